-- name: persistency_cohort_retention
-- description: Persistency: monthly cohort retention matrix (cohort = month of first order; share of the cohort ordering N months later).
-- param: max_months int = 12 | last month offset shown
--
-- Long form, one row per (cohort, months_since) with at least one active customer; months_since
-- 0 is the cohort month itself (retention 1). Pivot on months_since for the usual triangle.
WITH keys AS (
    -- One integer per customer across their SCD2 rows.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
-- Months numbered year * 12 + month - 1, from date_key (yyyymmdd) with exact integer arithmetic.
active AS (
    SELECT DISTINCT k.ck,
           CAST((s.date_key - s.date_key % 10000) / 10000 * 12
                + (s.date_key % 10000 - s.date_key % 100) / 100 - 1 AS BIGINT) AS m
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
),
tagged AS (
    SELECT m, min(m) OVER (PARTITION BY ck) AS cohort FROM active
),
grid AS (
    SELECT cohort, m - cohort AS months_since, count(*) AS active_customers
    FROM tagged
    GROUP BY cohort, m - cohort
),
-- Every customer is active in their cohort month, so the cohort's size is its month-0 count.
sized AS (
    SELECT cohort, months_since, active_customers,
           max(CASE WHEN months_since = 0 THEN active_customers END)
               OVER (PARTITION BY cohort) AS cohort_size
    FROM grid
)
SELECT CAST(CAST((cohort - cohort % 12) / 12 AS INTEGER) AS VARCHAR) || '-'
           || lpad(CAST(CAST(cohort % 12 + 1 AS INTEGER) AS VARCHAR), 2, '0') AS cohort,
       cohort_size,
       months_since,
       active_customers,
       CAST(active_customers AS DOUBLE) / cohort_size AS retention
FROM sized
WHERE months_since <= $max_months
ORDER BY cohort, months_since
