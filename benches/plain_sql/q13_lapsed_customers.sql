-- Customers who bought in 2023 but not in the last 90 days of the data, by region.
WITH last_buy AS (
  SELECT c.customer_id, c.region, max(d.date) AS last_date
  FROM fact_sales f
  JOIN dim_customer c ON f.customer_key = c.customer_key
  JOIN dim_date d ON f.date_key = d.date_key
  GROUP BY c.customer_id, c.region
)
SELECT region, count(*) AS lapsed
FROM last_buy
WHERE last_date < (SELECT max(d.date) FROM fact_sales f JOIN dim_date d ON f.date_key = d.date_key) - INTERVAL '90 days'
  AND last_date >= DATE '2023-01-01'
GROUP BY region
ORDER BY lapsed DESC, region;
