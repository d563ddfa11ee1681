-- name: report_at_risk
-- description: Report: the most valuable customers at high churn risk, with the reasons and the recommended action (churn_scores, customer_value, recommendations, dim_customer).
-- param: limit int = 10 | customers listed
SELECT c.customer_id, c.name, c.email, c.phone,
       s.churn_probability, v.clv_12m, s.top_reasons, r.action
FROM churn_scores s
JOIN customer_value v ON v.customer_id = s.customer_id
JOIN dim_customer c ON c.customer_id = s.customer_id AND c.is_current
LEFT JOIN (SELECT DISTINCT customer_id, action FROM recommendations) r ON r.customer_id = s.customer_id
WHERE s.risk_band = 'high'
ORDER BY v.clv_12m DESC, c.customer_id
LIMIT $limit
