-- name: promotion_campaign_roi
-- description: Promotion: campaign ROI; margin from contacted customers' purchases within N days of their first campaign contact against the campaign's cost, and against a comparable uncontacted group.
-- param: window_days int = 30 | days after the contact (or, for the comparison group, after the campaign start) whose purchases count
--
-- contacted: known customers with a contact for the campaign; a responder bought within the window.
-- comparison group: known customers not contacted for that campaign who bought in the 90 days
-- before its start (active, like the targeted ones), measured from the start date.
-- incremental_margin = margin - comparison margin per customer x contacted;
-- roi = (margin - cost) / cost; incremental_roi = (incremental_margin - cost) / cost.
WITH sales AS (
    SELECT c.customer_id, s.order_id, date_part('epoch', s.order_ts) AS t, s.net_amount,
           coalesce(s.margin, 0) AS margin
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    WHERE s.customer_key <> 0
),
contacted AS (
    SELECT k.campaign_key, c.customer_id, min(date_part('epoch', k.contact_ts)) AS t
    FROM fact_contacts k
    JOIN dim_customer c ON c.customer_key = k.customer_key
    WHERE k.campaign_key IS NOT NULL AND k.customer_key <> 0
    GROUP BY k.campaign_key, c.customer_id
),
response AS (
    SELECT t.campaign_key, t.customer_id,
           sum(s.net_amount) AS revenue, sum(s.margin) AS margin, count(s.order_id) AS lines
    FROM contacted t
    JOIN sales s ON s.customer_id = t.customer_id
    WHERE s.t > t.t AND s.t <= t.t + $window_days * 86400
    GROUP BY t.campaign_key, t.customer_id
),
campaign_stats AS (
    SELECT t.campaign_key,
           count(*) AS contacted,
           count(r.customer_id) AS responders,
           coalesce(sum(r.revenue), 0) AS revenue,
           coalesce(sum(r.margin), 0) AS margin
    FROM contacted t
    LEFT JOIN response r ON r.campaign_key = t.campaign_key AND r.customer_id = t.customer_id
    GROUP BY t.campaign_key
),
starts AS (
    SELECT campaign_key, date_part('epoch', CAST(start_date AS TIMESTAMP)) AS t
    FROM dim_campaign
    WHERE start_date IS NOT NULL
),
active_before AS (
    SELECT DISTINCT st.campaign_key, s.customer_id
    FROM starts st
    JOIN sales s ON s.t < st.t AND s.t >= st.t - 90 * 86400
),
comparison AS (
    SELECT a.campaign_key, a.customer_id
    FROM active_before a
    LEFT JOIN contacted t ON t.campaign_key = a.campaign_key AND t.customer_id = a.customer_id
    WHERE t.customer_id IS NULL
),
comparison_response AS (
    SELECT g.campaign_key, g.customer_id, sum(s.margin) AS margin
    FROM comparison g
    JOIN starts st ON st.campaign_key = g.campaign_key
    JOIN sales s ON s.customer_id = g.customer_id
    WHERE s.t >= st.t AND s.t < st.t + $window_days * 86400
    GROUP BY g.campaign_key, g.customer_id
),
comparison_stats AS (
    SELECT g.campaign_key,
           count(*) AS customers,
           count(r.customer_id) AS responders,
           coalesce(sum(r.margin), 0) AS margin
    FROM comparison g
    LEFT JOIN comparison_response r
           ON r.campaign_key = g.campaign_key AND r.customer_id = g.customer_id
    GROUP BY g.campaign_key
),
joined AS (
    SELECT cp.campaign_id, cp.name, cp.channel, cp.start_date, cp.cost,
           cs.contacted, cs.responders, cs.revenue, cs.margin,
           g.customers AS comparison_customers,
           g.responders AS comparison_responders,
           g.margin / CAST(nullif(g.customers, 0) AS DOUBLE) AS comparison_margin_per_customer
    FROM campaign_stats cs
    JOIN dim_campaign cp ON cp.campaign_key = cs.campaign_key
    LEFT JOIN comparison_stats g ON g.campaign_key = cs.campaign_key
)
SELECT campaign_id, name, channel, start_date, cost,
       contacted, responders,
       CAST(responders AS DOUBLE) / contacted AS response_rate,
       revenue, margin,
       (margin - cost) / nullif(cost, 0) AS roi,
       comparison_customers,
       CAST(comparison_responders AS DOUBLE) / nullif(comparison_customers, 0) AS comparison_response_rate,
       comparison_margin_per_customer,
       margin - coalesce(comparison_margin_per_customer, 0) * contacted AS incremental_margin,
       (margin - coalesce(comparison_margin_per_customer, 0) * contacted - cost) / nullif(cost, 0)
           AS incremental_roi
FROM joined
ORDER BY start_date, campaign_id
