-- name: report_churn_bands
-- description: Report: scored customers and mean churn probability per risk band (churn_scores).
SELECT risk_band,
       count(*) AS customers,
       avg(churn_probability) AS mean_probability
FROM churn_scores
GROUP BY risk_band
ORDER BY CASE risk_band WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END
