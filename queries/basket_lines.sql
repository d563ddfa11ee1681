-- name: basket_lines
-- description: The items of every order (returns excluded) between two dates, at product, subcategory or category level: the baskets of the market-basket analysis.
-- param: level text = product | product, subcategory or category
-- param: from_date date = 1900-01-01 | first order day included
-- param: to_date date = 2199-12-31 | last order day included
--
-- item is the product id at product level, else the (sub)category name; item_name is readable.
-- Anonymous customers' orders count too: the basket, not the customer, is the unit.
SELECT DISTINCT s.order_id,
       CASE $level WHEN 'category' THEN coalesce(p.category, '(none)')
                   WHEN 'subcategory' THEN coalesce(p.subcategory, '(none)')
                   ELSE p.product_id END AS item,
       CASE $level WHEN 'category' THEN coalesce(p.category, '(none)')
                   WHEN 'subcategory' THEN coalesce(p.subcategory, '(none)')
                   ELSE coalesce(p.name, p.product_id) END AS item_name
FROM fact_sales s
JOIN dim_product p ON p.product_key = s.product_key
JOIN dim_date d ON d.date_key = s.date_key
WHERE NOT s.is_return
  AND d.date BETWEEN $from_date AND $to_date
