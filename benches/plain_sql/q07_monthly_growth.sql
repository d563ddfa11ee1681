-- Monthly revenue with the running total and the change on the month before.
WITH m AS (
  SELECT d.year, d.month, sum(f.net_amount) AS revenue
  FROM fact_sales f
  JOIN dim_date d ON f.date_key = d.date_key
  GROUP BY d.year, d.month
)
SELECT year, month, revenue,
       sum(revenue) OVER (ORDER BY year, month) AS running_total,
       revenue - lag(revenue) OVER (ORDER BY year, month) AS change
FROM m
ORDER BY year, month;
