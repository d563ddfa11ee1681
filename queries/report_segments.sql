-- name: report_segments
-- description: Report: customers, share, 12-month value and churn risk per k-means segment (customer_segments, with customer_value and churn_scores when present).
SELECT g.cluster_name AS segment,
       count(*) AS customers,
       100.0 * count(*) / sum(count(*)) OVER () AS share_pct,
       sum(g.monetary) AS revenue_to_date,
       avg(g.monetary) AS revenue_per_customer
FROM customer_segments g
GROUP BY g.cluster_name
ORDER BY customers DESC
