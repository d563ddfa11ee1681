-- Return rate by category and quarter.
SELECT p.category, d.year, d.quarter,
       sum(CASE WHEN f.is_return THEN 1 ELSE 0 END) AS returned_lines, count(*) AS lines,
       sum(CASE WHEN f.is_return THEN 1.0 ELSE 0.0 END) / count(*) AS return_rate
FROM fact_sales f
JOIN dim_product p ON f.product_key = p.product_key
JOIN dim_date d ON f.date_key = d.date_key
GROUP BY p.category, d.year, d.quarter
ORDER BY p.category, d.year, d.quarter;
