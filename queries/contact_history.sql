-- name: contact_history
-- description: Every contact of the window before a cut, oldest first: the contact policy's fatigue and service-recovery input.
-- param: as_of date = 2199-12-31 | the cut (last day included)
-- param: after date = 1900-01-01 | the day before the window (not included)
SELECT c.customer_id, k.contact_id, d.date, k.direction, k.contact_type, k.outcome, k.channel
FROM fact_contacts k
JOIN dim_customer c ON c.customer_key = k.customer_key
JOIN dim_date d ON d.date_key = k.date_key
WHERE d.date <= $as_of AND d.date > $after
ORDER BY k.contact_ts, k.contact_id
