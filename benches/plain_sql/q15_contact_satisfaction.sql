-- Contacts and average satisfaction per channel and quarter, service contacts only.
SELECT fc.channel, d.year, d.quarter, count(*) AS contacts, avg(fc.satisfaction) AS satisfaction,
       count(DISTINCT fc.customer_key) AS customers
FROM fact_contacts fc
JOIN dim_date d ON fc.date_key = d.date_key
WHERE fc.contact_type IN ('service', 'complaint', 'inquiry')
GROUP BY fc.channel, d.year, d.quarter
ORDER BY fc.channel, d.year, d.quarter;
