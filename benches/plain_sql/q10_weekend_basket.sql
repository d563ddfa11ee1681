-- Average order value on weekends and weekdays, per store channel.
WITH o AS (
  SELECT f.order_id, s.channel, d.is_weekend, sum(f.net_amount) AS value
  FROM fact_sales f
  JOIN dim_date d ON f.date_key = d.date_key
  JOIN dim_store s ON f.store_key = s.store_key
  GROUP BY f.order_id, s.channel, d.is_weekend
)
SELECT channel, is_weekend, count(*) AS orders, avg(value) AS avg_order_value
FROM o
GROUP BY channel, is_weekend
ORDER BY channel, is_weekend;
