-- name: sales_range
-- description: The first and last order day in the mart: the range every model's cut must fall in.
SELECT CAST(min(order_ts) AS DATE) AS first, CAST(max(order_ts) AS DATE) AS last FROM fact_sales
