-- name: profiling_customer_mix
-- description: Profiling: the customer base by region, age band and acquisition channel (current customers), with how many bought and their revenue.
-- param: min_customers int = 1 | leave out groups with fewer customers than this
--
-- One row per (dimension, bucket). Age is counted at the year of the latest order in the mart.
-- share = customers / all current customers; revenue is all history, net of returns.
WITH ref AS (
    -- date_key is yyyymmdd.
    SELECT (max(date_key) - max(date_key) % 10000) / 10000 AS year FROM fact_sales
),
cust AS (
    SELECT c.customer_id,
           coalesce(c.region, '(unknown)') AS region,
           coalesce(c.channel, '(unknown)') AS channel,
           CASE
               WHEN c.birth_year IS NULL OR ref.year IS NULL THEN '(unknown)'
               WHEN ref.year - c.birth_year < 25 THEN '<25'
               WHEN ref.year - c.birth_year < 35 THEN '25-34'
               WHEN ref.year - c.birth_year < 45 THEN '35-44'
               WHEN ref.year - c.birth_year < 55 THEN '45-54'
               WHEN ref.year - c.birth_year < 65 THEN '55-64'
               ELSE '65+'
           END AS age_band
    FROM dim_customer c
    CROSS JOIN ref
    WHERE c.is_current AND c.customer_key <> 0
),
-- Revenue per customer version (an integer grouping over the facts), then per customer.
spend_by_key AS (
    SELECT customer_key, sum(net_amount) AS revenue
    FROM fact_sales
    WHERE customer_key <> 0
    GROUP BY customer_key
),
spend AS (
    SELECT c.customer_id, sum(k.revenue) AS revenue
    FROM spend_by_key k
    JOIN dim_customer c ON c.customer_key = k.customer_key
    GROUP BY c.customer_id
),
base AS (
    SELECT cust.region, cust.channel, cust.age_band, spend.revenue
    FROM cust
    LEFT JOIN spend ON spend.customer_id = cust.customer_id
),
-- The three breakdowns in one pass; each covers every current customer once, so a dimension's
-- customers add up to the total.
mix AS (
    SELECT CASE WHEN grouping(region) = 0 THEN 'region'
                WHEN grouping(age_band) = 0 THEN 'age_band'
                ELSE 'channel' END AS dimension,
           coalesce(region, age_band, channel) AS bucket,
           count(*) AS customers,
           count(revenue) AS buyers,
           coalesce(sum(revenue), 0) AS revenue
    FROM base
    GROUP BY GROUPING SETS ((region), (age_band), (channel))
),
totalled AS (
    SELECT mix.*, sum(customers) OVER (PARTITION BY dimension) AS total_customers FROM mix
)
SELECT dimension,
       bucket,
       customers,
       CAST(customers AS DOUBLE) / total_customers AS share,
       buyers,
       revenue,
       revenue / CAST(nullif(buyers, 0) AS DOUBLE) AS revenue_per_buyer
FROM totalled
WHERE customers >= $min_customers
ORDER BY dimension, customers DESC, bucket
