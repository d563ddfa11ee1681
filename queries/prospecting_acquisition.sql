-- name: prospecting_acquisition
-- description: Prospecting: new customers per quarter of their first order and acquisition channel, and how many placed a second order within N days.
-- param: within_days int = 90 | days after the first order in which a second order counts as converted
--
-- A customer's orders are their distinct non-return orders; the second order is the next one by
-- time. Customers whose first order is fewer than within_days before the end of the data have
-- had less time to convert: read the latest quarter with that in mind.
WITH orders AS (
    SELECT c.customer_id, s.order_id, min(s.order_ts) AS ts, min(s.date_key) AS date_key
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
    GROUP BY c.customer_id, s.order_id
),
numbered AS (
    SELECT customer_id, ts, date_key,
           row_number() OVER (PARTITION BY customer_id ORDER BY ts, order_id) AS n
    FROM orders
),
journey AS (
    SELECT f.customer_id,
           f.date_key AS first_date_key,
           (date_part('epoch', s2.ts) - date_part('epoch', f.ts)) / 86400.0 AS days_to_second
    FROM numbered f
    LEFT JOIN numbered s2 ON s2.customer_id = f.customer_id AND s2.n = 2
    WHERE f.n = 1
),
cur AS (
    SELECT customer_id, coalesce(channel, '(unknown)') AS channel
    FROM dim_customer
    WHERE is_current
)
SELECT CAST(d.year AS VARCHAR) || '-Q' || CAST(d.quarter AS VARCHAR) AS first_quarter,
       cur.channel AS acquisition_channel,
       count(*) AS new_customers,
       sum(CASE WHEN j.days_to_second <= $within_days THEN 1 ELSE 0 END) AS converted,
       CAST(sum(CASE WHEN j.days_to_second <= $within_days THEN 1 ELSE 0 END) AS DOUBLE)
           / count(*) AS conversion_rate,
       median(j.days_to_second) AS median_days_to_second
FROM journey j
JOIN cur ON cur.customer_id = j.customer_id
JOIN dim_date d ON d.date_key = j.first_date_key
GROUP BY d.year, d.quarter, cur.channel
ORDER BY first_quarter, acquisition_channel
