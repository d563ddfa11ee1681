-- name: report_clv_distribution
-- description: Report: customers and total 12-month CLV per CLV band; the bands are quintiles of the customers' CLV (the top 20% split into the top 5% and the rest), so that they fit any currency and any business.
WITH ranked AS (
    SELECT clv_12m,
           CASE WHEN percent_rank() OVER (ORDER BY clv_12m) >= 0.95 THEN 6
                ELSE ntile(5) OVER (ORDER BY clv_12m) END AS band
    FROM customer_value
)
SELECT CASE band WHEN 1 THEN 'bottom 20%'
                 WHEN 2 THEN '20–40%'
                 WHEN 3 THEN '40–60%'
                 WHEN 4 THEN '60–80%'
                 WHEN 5 THEN '80–95%'
                 ELSE 'top 5%' END AS clv_band,
       min(clv_12m) AS clv_from,
       max(clv_12m) AS clv_to,
       count(*) AS customers,
       sum(clv_12m) AS clv_12m_total
FROM ranked
GROUP BY band
ORDER BY band
