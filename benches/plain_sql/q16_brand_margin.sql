-- Margin rate by brand in each quarter of 2024.
SELECT p.brand, d.quarter, sum(f.margin) / sum(f.net_amount) AS margin_rate, sum(f.net_amount) AS revenue
FROM fact_sales f
JOIN dim_product p ON f.product_key = p.product_key
JOIN dim_date d ON f.date_key = d.date_key
WHERE d.year = 2024 AND NOT f.is_return
GROUP BY p.brand, d.quarter
HAVING sum(f.net_amount) > 0
ORDER BY p.brand, d.quarter;
