-- name: basket_lines
-- description: The items of every order (returns excluded) between two dates, at product, subcategory or category level: the baskets of the market-basket analysis.
-- param: level text = product | product, subcategory or category
-- param: from_date date = 1900-01-01 | first order day included
-- param: to_date date = 2199-12-31 | last order day included
--
-- item is the product id at product level, else the (sub)category name; item_name is readable.
-- Anonymous customers' orders count too: the basket, not the customer, is the unit.
WITH lines AS (
    -- Distinct (order, product) on the facts' own columns; date_key is yyyymmdd, so the date
    -- range is a range of the key, which the scan can prune on.
    SELECT DISTINCT s.order_id, s.product_key
    FROM fact_sales s
    WHERE NOT s.is_return
      AND s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
)
-- Product level: one product per (order, product) already.
SELECT l.order_id, p.product_id AS item, coalesce(p.name, p.product_id) AS item_name
FROM lines l
JOIN dim_product p ON p.product_key = l.product_key
WHERE $level NOT IN ('category', 'subcategory')
UNION ALL
-- Category levels: several products of an order can share a (sub)category.
SELECT DISTINCT l.order_id,
       CASE $level WHEN 'category' THEN coalesce(p.category, '(none)')
                   ELSE coalesce(p.subcategory, '(none)') END AS item,
       CASE $level WHEN 'category' THEN coalesce(p.category, '(none)')
                   ELSE coalesce(p.subcategory, '(none)') END AS item_name
FROM lines l
JOIN dim_product p ON p.product_key = l.product_key
WHERE $level IN ('category', 'subcategory')
