-- name: prospecting_acquisition
-- description: Prospecting: new customers per quarter of their first order and acquisition channel, and how many placed a second order within N days.
-- param: within_days int = 90 | days after the first order in which a second order counts as converted
--
-- A customer's orders are their distinct non-return orders; the second order is the next one by
-- time. Customers whose first order is fewer than within_days before the end of the data have
-- had less time to convert: read the latest quarter with that in mind.
WITH keys AS (
    -- One integer per customer across their SCD2 rows, and the customer's current channel.
    SELECT customer_key, is_current, coalesce(channel, '(unknown)') AS channel,
           min(customer_key) OVER (PARTITION BY customer_id) AS ck
    FROM dim_customer
),
orders AS (
    SELECT k.ck, s.order_id, min(s.order_ts) AS ts, min(s.date_key) AS date_key
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
    GROUP BY k.ck, s.order_id
),
numbered AS (
    SELECT ck, ts, date_key,
           row_number() OVER (PARTITION BY ck ORDER BY ts, order_id) AS n,
           lead(ts) OVER (PARTITION BY ck ORDER BY ts, order_id) AS next_ts
    FROM orders
),
journey AS (
    SELECT ck,
           -- Quarter number year * 4 + quarter - 1 from date_key (yyyymmdd), exact integer arithmetic.
           CAST((date_key - date_key % 10000) / 10000 * 4
                + ((date_key % 10000 - date_key % 100) / 100 - 1
                   - ((date_key % 10000 - date_key % 100) / 100 - 1) % 3) / 3 AS BIGINT) AS q,
           (date_part('epoch', next_ts) - date_part('epoch', ts)) / 86400.0 AS days_to_second
    FROM numbered
    WHERE n = 1
),
by_quarter AS (
    SELECT j.q,
           cur.channel AS acquisition_channel,
           count(*) AS new_customers,
           sum(CASE WHEN j.days_to_second <= $within_days THEN 1 ELSE 0 END) AS converted,
           median(j.days_to_second) AS median_days_to_second
    FROM journey j
    JOIN keys cur ON cur.ck = j.ck AND cur.is_current
    GROUP BY j.q, cur.channel
)
SELECT CAST(CAST((q - q % 4) / 4 AS INTEGER) AS VARCHAR) || '-Q'
           || CAST(CAST(q % 4 + 1 AS INTEGER) AS VARCHAR) AS first_quarter,
       acquisition_channel,
       new_customers,
       converted,
       CAST(converted AS DOUBLE) / new_customers AS conversion_rate,
       median_days_to_second
FROM by_quarter
ORDER BY first_quarter, acquisition_channel
