-- name: customer_daily_purchases
-- description: Purchases per customer and day up to as_of (the transaction log of the customer-value models): one row per known customer and day with an order that is not a return, and the day's net amount of those orders.
-- param: as_of date = 2199-12-31 | last day counted
--
-- Returns are not purchases: their lines are left out of both the days and the amounts.
SELECT c.customer_id,
       d.date AS day,
       sum(s.net_amount) AS amount
FROM fact_sales s
JOIN dim_customer c ON c.customer_key = s.customer_key
JOIN dim_date d ON d.date_key = s.date_key
WHERE s.customer_key <> 0
  AND NOT s.is_return
  AND d.date <= $as_of
GROUP BY c.customer_id, d.date
