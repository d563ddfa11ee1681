-- The 100 customers with the highest revenue, with their first and last order.
SELECT c.customer_id, min(d.date) AS first_order, max(d.date) AS last_order,
       count(DISTINCT f.order_id) AS orders, sum(f.net_amount) AS revenue
FROM fact_sales f
JOIN dim_customer c ON f.customer_key = c.customer_key
JOIN dim_date d ON f.date_key = d.date_key
GROUP BY c.customer_id
ORDER BY revenue DESC, c.customer_id
LIMIT 100;
