-- name: report_clv_distribution
-- description: Report: customers and total 12-month CLV per CLV band (customer_value).
SELECT CASE WHEN clv_12m < 50 THEN '0–50'
            WHEN clv_12m < 100 THEN '50–100'
            WHEN clv_12m < 250 THEN '100–250'
            WHEN clv_12m < 500 THEN '250–500'
            ELSE '500+' END AS clv_band,
       count(*) AS customers,
       sum(clv_12m) AS clv_12m_total
FROM customer_value
GROUP BY 1
ORDER BY min(clv_12m)
