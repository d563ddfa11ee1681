-- name: report_region_category
-- description: Report: revenue and margin by the customer's region (their country where no region is known, at the time of the sale) and product category.
--
-- Sales without a customer (key 0) are a group of their own.
-- margin is NULL (shown as unknown) for a group with a line whose unit cost is unknown: a sum
-- over the lines that have one would understate it without saying so.
SELECT CASE WHEN s.customer_key = 0 THEN '(anonymous sales)'
            ELSE coalesce(c.region, c.country, '(unknown)') END AS region,
       coalesce(p.category, '(no category)') AS category,
       sum(s.net_amount) AS revenue,
       CASE WHEN count(s.margin) = count(*) THEN sum(s.margin) END AS margin
FROM fact_sales s
JOIN dim_customer c ON c.customer_key = s.customer_key
JOIN dim_product p ON p.product_key = s.product_key
GROUP BY 1, 2
ORDER BY region, revenue DESC
