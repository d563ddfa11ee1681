-- name: service_quality
-- description: Service quality by contact channel: complaint rate, resolution rate and satisfaction, against the complaining customers' spend before and their purchasing after the complaint.
-- param: within_days int = 90 | days after a complaint in which a purchase counts as buying again
--
-- complaint_rate = complaints / contacts; resolution_rate = resolved complaints / complaints.
-- spend_before_per_complaint: the customer's net sales in the 365 days before the complaint.
-- bought_again_*: share of complaints (resolved / unresolved) followed by a purchase within the window.
WITH k AS (
    SELECT k.contact_id,
           coalesce(k.channel, '(unknown)') AS channel,
           k.contact_type, k.outcome, k.satisfaction,
           date_part('epoch', k.contact_ts) AS t,
           c.customer_id
    FROM fact_contacts k
    JOIN dim_customer c ON c.customer_key = k.customer_key
    WHERE k.customer_key <> 0
),
sales AS (
    SELECT c.customer_id, date_part('epoch', s.order_ts) AS t, s.net_amount
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    WHERE s.customer_key <> 0
),
contact_stats AS (
    SELECT channel,
           count(*) AS contacts,
           sum(CASE WHEN contact_type = 'complaint' THEN 1 ELSE 0 END) AS complaints,
           sum(CASE WHEN contact_type = 'complaint' AND outcome = 'resolved' THEN 1 ELSE 0 END)
               AS resolved_complaints,
           avg(satisfaction) AS mean_satisfaction,
           min(satisfaction) AS min_satisfaction,
           count(DISTINCT CASE WHEN contact_type = 'complaint' THEN customer_id END) AS complainants
    FROM k
    GROUP BY channel
),
per_complaint AS (
    SELECT k.contact_id, k.channel, k.outcome = 'resolved' AS resolved,
           coalesce(sum(CASE WHEN s.t <= k.t AND s.t > k.t - 365 * 86400 THEN s.net_amount END), 0)
               AS spend_before,
           max(CASE WHEN s.t > k.t AND s.t <= k.t + $within_days * 86400 THEN 1 ELSE 0 END)
               AS bought_again
    FROM k
    LEFT JOIN sales s ON s.customer_id = k.customer_id
    WHERE k.contact_type = 'complaint'
    GROUP BY k.contact_id, k.channel, k.outcome
),
complaint_stats AS (
    SELECT channel,
           avg(spend_before) AS spend_before_per_complaint,
           sum(CASE WHEN resolved THEN bought_again ELSE 0 END) AS resolved_bought_again,
           sum(CASE WHEN resolved THEN 0 ELSE bought_again END) AS unresolved_bought_again
    FROM per_complaint
    GROUP BY channel
)
SELECT cs.channel,
       cs.contacts,
       cs.complaints,
       CAST(cs.complaints AS DOUBLE) / cs.contacts AS complaint_rate,
       CAST(cs.resolved_complaints AS DOUBLE) / nullif(cs.complaints, 0) AS resolution_rate,
       cs.mean_satisfaction,
       cs.min_satisfaction,
       cs.complainants,
       q.spend_before_per_complaint,
       CAST(q.resolved_bought_again AS DOUBLE) / nullif(cs.resolved_complaints, 0)
           AS bought_again_resolved,
       CAST(q.unresolved_bought_again AS DOUBLE) / nullif(cs.complaints - cs.resolved_complaints, 0)
           AS bought_again_unresolved
FROM contact_stats cs
LEFT JOIN complaint_stats q ON q.channel = cs.channel
ORDER BY cs.contacts DESC, cs.channel
