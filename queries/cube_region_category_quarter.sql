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
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, c.region, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
l AS (
    SELECT coalesce(c.region, '(unknown)') AS region,
           coalesce(p.category, '(unknown)') AS category,
           -- Quarter number year * 4 + quarter - 1 from date_key (yyyymmdd), exact integer
           -- arithmetic; named after the aggregation.
           CAST((s.date_key - s.date_key % 10000) / 10000 * 4
                + ((s.date_key % 10000 - s.date_key % 100) / 100 - 1
                   - ((s.date_key % 10000 - s.date_key % 100) / 100 - 1) % 3) / 3 AS BIGINT) AS q,
           s.net_amount, s.margin, s.order_id, s.is_return,
           CASE WHEN s.customer_key <> 0 THEN c.ck END AS ck
    FROM fact_sales s
    JOIN keys c ON c.customer_key = s.customer_key
    JOIN dim_product p ON p.product_key = s.product_key
    -- The date range compared on the key itself, which the scan can prune on.
    WHERE s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
),
cube AS (
    SELECT region, category, q,
           GROUPING(region) * 4 + GROUPING(category) * 2 + GROUPING(q) AS grouping_id,
           sum(net_amount) AS revenue,
           sum(margin) AS margin,
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END) AS orders,
           count(DISTINCT ck) AS customers
    FROM l
    GROUP BY CUBE (region, category, q)
)
SELECT CASE WHEN grouping_id >= 4 THEN '(all)' ELSE region END AS region,
       CASE WHEN grouping_id % 4 >= 2 THEN '(all)' ELSE category END AS category,
       CASE WHEN grouping_id % 2 = 1 THEN '(all)'
            ELSE CAST(CAST((q - q % 4) / 4 AS INTEGER) AS VARCHAR) || '-Q'
                 || CAST(CAST(q % 4 + 1 AS INTEGER) AS VARCHAR) END AS quarter,
       grouping_id, revenue, margin, orders, customers
FROM cube
ORDER BY grouping_id, region, category, quarter
