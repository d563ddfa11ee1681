-- name: report_actions
-- description: Report: customers per next-best action and how many have product recommendations (recommendations).
SELECT action,
       count(DISTINCT customer_id) AS customers,
       count(DISTINCT CASE WHEN product_id IS NOT NULL THEN customer_id END) AS with_products
FROM recommendations
GROUP BY action
ORDER BY customers DESC
