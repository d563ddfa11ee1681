-- The 20 best-selling products of the first half of 2024.
SELECT p.product_id, p.name, p.category, sum(f.quantity) AS units, sum(f.net_amount) AS revenue
FROM fact_sales f
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_product p ON f.product_key = p.product_key
WHERE d.date BETWEEN DATE '2024-01-01' AND DATE '2024-06-30' AND NOT f.is_return
GROUP BY p.product_id, p.name, p.category
ORDER BY revenue DESC, p.product_id
LIMIT 20;
