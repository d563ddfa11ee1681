-- Contacts, reached customers and conversion rate per campaign.
SELECT cp.campaign_id, cp.name, cp.channel, count(*) AS contacts,
       count(DISTINCT c.customer_id) AS customers,
       avg(CASE WHEN fc.outcome = 'converted' THEN 1.0 ELSE 0.0 END) AS conversion_rate
FROM fact_contacts fc
JOIN dim_campaign cp ON fc.campaign_key = cp.campaign_key
JOIN dim_customer c ON fc.customer_key = c.customer_key
WHERE fc.contact_type = 'campaign'
GROUP BY cp.campaign_id, cp.name, cp.channel
ORDER BY conversion_rate DESC, cp.campaign_id;
