-- Distinct buyers per store region, channel and month.
SELECT s.region, s.channel, d.year, d.month, count(DISTINCT c.customer_id) AS buyers,
       sum(f.net_amount) AS revenue
FROM fact_sales f
JOIN dim_store s ON f.store_key = s.store_key
JOIN dim_date d ON f.date_key = d.date_key
JOIN dim_customer c ON f.customer_key = c.customer_key
GROUP BY s.region, s.channel, d.year, d.month
ORDER BY s.region, s.channel, d.year, d.month;
