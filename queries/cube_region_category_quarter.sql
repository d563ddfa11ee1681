-- name: cube_region_category_quarter
-- description: Cube: revenue, margin, orders and customers over customer region x product category x quarter, with every subtotal (CUBE).
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
--
-- Region is where the customer lived when they bought (the SCD2 row of the sale). '(all)'
-- marks a subtotal over that dimension; the row with all three '(all)' is the grand total.
-- grouping_id has one bit per dimension rolled up: 4 region, 2 category, 1 quarter.
WITH keys AS (
    -- One integer per customer across their SCD2 rows: distinct counts on integers.
    SELECT customer_key, region, min(customer_key) OVER (PARTITION BY customer_id) AS ck
    FROM dim_customer
),
l AS (
    SELECT coalesce(c.region, '(unknown)') AS region,
           coalesce(p.category, '(unknown)') AS category,
           CAST(d.year AS VARCHAR) || '-Q' || CAST(d.quarter AS VARCHAR) AS quarter,
           s.net_amount, s.margin, s.order_id, s.is_return,
           CASE WHEN s.customer_key <> 0 THEN c.ck END AS ck
    FROM fact_sales s
    JOIN keys c ON c.customer_key = s.customer_key
    JOIN dim_product p ON p.product_key = s.product_key
    JOIN dim_date d ON d.date_key = s.date_key
    WHERE d.date BETWEEN $from_date AND $to_date
)
SELECT CASE WHEN GROUPING(region) = 1 THEN '(all)' ELSE region END AS region,
       CASE WHEN GROUPING(category) = 1 THEN '(all)' ELSE category END AS category,
       CASE WHEN GROUPING(quarter) = 1 THEN '(all)' ELSE quarter END AS quarter,
       GROUPING(region) * 4 + GROUPING(category) * 2 + GROUPING(quarter) AS grouping_id,
       sum(net_amount) AS revenue,
       sum(margin) AS margin,
       count(DISTINCT CASE WHEN NOT is_return THEN order_id END) AS orders,
       count(DISTINCT ck) AS customers
FROM l
GROUP BY CUBE (region, category, quarter)
ORDER BY grouping_id, region, category, quarter
