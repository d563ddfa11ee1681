-- Customers by signup month, and how many of them bought within 90 days of signing up.
WITH first_buy AS (
  SELECT c.customer_id, min(d.date) AS first_date
  FROM fact_sales f
  JOIN dim_customer c ON f.customer_key = c.customer_key
  JOIN dim_date d ON f.date_key = d.date_key
  GROUP BY c.customer_id
)
SELECT date_trunc('month', c.signup_date) AS signup_month, count(*) AS customers,
       count(fb.first_date) AS buyers,
       sum(CASE WHEN fb.first_date <= c.signup_date + INTERVAL '90 days' THEN 1 ELSE 0 END) AS bought_in_90_days
FROM dim_customer c
LEFT JOIN first_buy fb ON c.customer_id = fb.customer_id
WHERE c.is_current AND c.signup_date IS NOT NULL
GROUP BY date_trunc('month', c.signup_date)
ORDER BY signup_month;
