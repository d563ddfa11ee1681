-- name: report_actions
-- description: Report: customers per next-best action — those the contact policy suppressed (opted out, service recovery, rest) included — with how many get replenish and cross-sell products (recommendations).
SELECT action,
       CASE WHEN action IN ('opted_out', 'service_recovery', 'rest') THEN 'suppressed by the contact policy'
            WHEN action = 'no_action' THEN 'nothing to send'
            ELSE 'products sent' END AS outcome,
       count(DISTINCT customer_id) AS customers,
       count(DISTINCT CASE WHEN kind = 'replenish' THEN customer_id END) AS with_replenish,
       count(DISTINCT CASE WHEN kind = 'cross_sell' THEN customer_id END) AS with_cross_sell
FROM recommendations
GROUP BY action
ORDER BY customers DESC, action
