-- name: persistency_cohort_retention
-- description: Persistency: monthly cohort retention matrix (cohort = month of first order; share of the cohort ordering N months later).
-- param: max_months int = 12 | last month offset shown
--
-- Long form, one row per (cohort, months_since) with at least one active customer; months_since
-- 0 is the cohort month itself (retention 1). Pivot on months_since for the usual triangle.
WITH active AS (
    SELECT DISTINCT c.customer_id, d.year * 12 + d.month - 1 AS m
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    JOIN dim_date d ON d.date_key = s.date_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
),
firsts AS (
    SELECT customer_id, min(m) AS cohort
    FROM active
    GROUP BY customer_id
),
sizes AS (
    SELECT cohort, count(*) AS cohort_size
    FROM firsts
    GROUP BY cohort
),
grid AS (
    SELECT f.cohort, a.m - f.cohort AS months_since, count(*) AS active_customers
    FROM active a
    JOIN firsts f ON f.customer_id = a.customer_id
    WHERE a.m - f.cohort <= $max_months
    GROUP BY f.cohort, a.m - f.cohort
)
SELECT CAST(CAST((g.cohort - g.cohort % 12) / 12 AS INTEGER) AS VARCHAR) || '-'
           || lpad(CAST(g.cohort % 12 + 1 AS VARCHAR), 2, '0') AS cohort,
       z.cohort_size,
       g.months_since,
       g.active_customers,
       CAST(g.active_customers AS DOUBLE) / z.cohort_size AS retention
FROM grid g
JOIN sizes z ON z.cohort = g.cohort
ORDER BY cohort, g.months_since
