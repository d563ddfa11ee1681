-- name: customer_purchases
-- description: Every product line a known customer bought or returned up to as_of, with the order, the day, the line's revenue and margin and whether it is a return: the history the recommender reads.
-- param: as_of date = 2199-12-31 | last day included
SELECT c.customer_id,
       s.order_id,
       d.date AS day,
       p.product_id,
       coalesce(p.name, p.product_id) AS product_name,
       coalesce(p.subcategory, p.category, p.product_id) AS product_group,
       coalesce(p.category, p.subcategory, p.product_id) AS product_category,
       s.net_amount,
       s.margin,
       s.is_return
FROM fact_sales s
JOIN dim_customer c ON c.customer_key = s.customer_key
JOIN dim_product p ON p.product_key = s.product_key
JOIN dim_date d ON d.date_key = s.date_key
WHERE s.customer_key <> 0
  AND d.date <= $as_of
