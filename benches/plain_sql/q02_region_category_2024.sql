-- Revenue and margin by customer region and product category in 2024.
SELECT c.region, p.category, sum(f.net_amount) AS revenue, sum(f.margin) AS margin,
       count(DISTINCT c.customer_id) AS customers
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_customer c ON f.customer_key = c.customer_key
JOIN dim_product p ON f.product_key = p.product_key
WHERE d.year = 2024
GROUP BY c.region, p.category
ORDER BY revenue DESC;
