-- name: persistency_repeat_rate
-- description: Persistency: share of buyers who ordered more than once, by the customer's current region and overall.
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
--
-- A buyer is a known (non-anonymous) customer with at least one order that is not a return in
-- the period; a repeat buyer has two or more such orders. The row with region '(all)' is the total.
WITH keys AS (
    -- One integer per customer across their SCD2 rows (the smallest key per customer_id, joined
    -- back), with the current row's region.
    SELECT c.customer_key, c.is_current, coalesce(c.region, '(unknown)') AS region, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
orders AS (
    SELECT k.ck, count(DISTINCT s.order_id) AS orders
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0
      AND NOT s.is_return
      -- date_key is yyyymmdd: the range is compared on the key itself, which the scan can prune on.
      AND s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
    GROUP BY k.ck
),
cur AS (
    SELECT ck, region FROM keys WHERE is_current
),
rolled AS (
    SELECT CASE WHEN GROUPING(cur.region) = 1 THEN '(all)' ELSE cur.region END AS region,
           GROUPING(cur.region) AS is_total,
           count(*) AS buyers,
           sum(CASE WHEN o.orders >= 2 THEN 1 ELSE 0 END) AS repeat_buyers,
           sum(o.orders) AS orders
    FROM orders o
    JOIN cur ON cur.ck = o.ck
    GROUP BY ROLLUP (cur.region)
)
SELECT region,
       buyers,
       repeat_buyers,
       CAST(repeat_buyers AS DOUBLE) / buyers AS repeat_rate,
       CAST(orders AS DOUBLE) / buyers AS orders_per_buyer
FROM rolled
ORDER BY is_total, region
