-- Share of customers with more than one order, by region.
WITH orders AS (
  SELECT c.customer_id, c.region, count(DISTINCT f.order_id) AS n
  FROM fact_sales f
  JOIN dim_customer c ON f.customer_key = c.customer_key
  GROUP BY c.customer_id, c.region
)
SELECT region, count(*) AS customers, avg(CASE WHEN n > 1 THEN 1.0 ELSE 0.0 END) AS repeat_rate
FROM orders
GROUP BY region
ORDER BY region;
