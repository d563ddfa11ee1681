-- name: report_monthly_sales
-- description: Report: revenue, margin, orders and buying customers per calendar month.
SELECT d.year * 100 + d.month AS month,
       sum(s.net_amount) AS revenue,
       sum(coalesce(s.margin, 0)) AS margin,
       count(DISTINCT CASE WHEN NOT s.is_return THEN s.order_id END) AS orders,
       count(DISTINCT CASE WHEN NOT s.is_return AND s.customer_key <> 0 THEN s.customer_key END) AS customers
FROM fact_sales s
JOIN dim_date d ON d.date_key = s.date_key
GROUP BY d.year * 100 + d.month
ORDER BY month
