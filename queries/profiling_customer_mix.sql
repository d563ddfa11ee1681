-- name: profiling_customer_mix
-- description: Profiling: the customer base by region, age band and acquisition channel (current customers), with how many bought and their revenue.
-- param: min_customers int = 1 | leave out groups with fewer customers than this
--
-- One row per (dimension, bucket). Age is counted at the year of the latest order in the mart.
-- share = customers / all current customers; revenue is all history, net of returns.
WITH ref AS (
    SELECT max(d.year) AS year
    FROM fact_sales s
    JOIN dim_date d ON d.date_key = s.date_key
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
spend AS (
    SELECT c.customer_id, sum(s.net_amount) AS revenue
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    WHERE s.customer_key <> 0
    GROUP BY c.customer_id
),
base AS (
    SELECT cust.region, cust.channel, cust.age_band, spend.revenue
    FROM cust
    LEFT JOIN spend ON spend.customer_id = cust.customer_id
),
mix AS (
    SELECT 'region' AS dimension, region AS bucket, count(*) AS customers,
           count(revenue) AS buyers, coalesce(sum(revenue), 0) AS revenue
    FROM base GROUP BY region
    UNION ALL
    SELECT 'age_band', age_band, count(*), count(revenue), coalesce(sum(revenue), 0)
    FROM base GROUP BY age_band
    UNION ALL
    SELECT 'channel', channel, count(*), count(revenue), coalesce(sum(revenue), 0)
    FROM base GROUP BY channel
),
total AS (
    SELECT count(*) AS customers FROM cust
)
SELECT mix.dimension,
       mix.bucket,
       mix.customers,
       CAST(mix.customers AS DOUBLE) / total.customers AS share,
       mix.buyers,
       mix.revenue,
       mix.revenue / CAST(nullif(mix.buyers, 0) AS DOUBLE) AS revenue_per_buyer
FROM mix
CROSS JOIN total
WHERE mix.customers >= $min_customers
ORDER BY mix.dimension, mix.customers DESC, mix.bucket
