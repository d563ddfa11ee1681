-- name: report_region_category
-- description: Report: revenue by the customer's region (at the time of the sale) and product category, with each region's total.
SELECT coalesce(c.region, '(unknown)') AS region,
       coalesce(p.category, '(none)') AS category,
       sum(s.net_amount) AS revenue,
       sum(coalesce(s.margin, 0)) AS margin
FROM fact_sales s
JOIN dim_customer c ON c.customer_key = s.customer_key
JOIN dim_product p ON p.product_key = s.product_key
GROUP BY 1, 2
ORDER BY region, revenue DESC
