-- Revenue, orders and customers per calendar month.
SELECT d.year, d.month, sum(f.net_amount) AS revenue, count(DISTINCT f.order_id) AS orders,
       count(DISTINCT c.customer_id) AS customers
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_customer c ON f.customer_key = c.customer_key
GROUP BY d.year, d.month
ORDER BY d.year, d.month;
