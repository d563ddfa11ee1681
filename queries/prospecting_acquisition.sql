-- name: prospecting_acquisition
-- description: Prospecting: new customers per quarter of their first order and acquisition channel, and how many placed a second order within N days.
-- param: within_days int = 90 | days after the first order in which a second order counts as converted
--
-- A customer's orders are their distinct non-return orders; the second order is the next one by
-- time. Customers whose first order is fewer than within_days before the end of the data have
-- had less time to convert: read the latest quarter with that in mind.
WITH keys AS (
    -- One integer per customer across their SCD2 rows, and the customer's current channel.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, c.is_current, coalesce(c.channel, '(unknown)') AS channel,
           f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
orders AS (
    SELECT k.ck, s.order_id, min(s.order_ts) AS ts, min(s.date_key) AS date_key
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
    GROUP BY k.ck, s.order_id
),
-- Only the times of the first two orders are used, and orders with the same time give the
-- same times in either order: the window sorts on integers alone.
numbered AS (
    SELECT ck, ts, date_key,
           row_number() OVER (PARTITION BY ck ORDER BY ts) AS n,
           lead(ts) OVER (PARTITION BY ck ORDER BY ts) AS next_ts
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
