-- Average days between a customer's consecutive orders, by region.
WITH o AS (
  SELECT DISTINCT c.customer_id, c.region, d.date
  FROM fact_sales f
  JOIN dim_customer c ON f.customer_key = c.customer_key
  JOIN dim_date d ON f.date_key = d.date_key
),
g AS (
  SELECT customer_id, region, date - lag(date) OVER (PARTITION BY customer_id ORDER BY date) AS gap
  FROM o
)
SELECT region, count(gap) AS gaps, avg(gap) AS avg_days
FROM g
WHERE gap IS NOT NULL
GROUP BY region
ORDER BY region;
