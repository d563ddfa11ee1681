-- name: promotion_campaign_roi
-- description: Promotion: campaign ROI; margin from contacted customers' purchases within N days of their first campaign contact against the campaign's cost, and against a comparable uncontacted group.
-- param: window_days int = 30 | days after the contact (or, for the comparison group, after the campaign start) whose purchases count
--
-- contacted: known customers with a contact for the campaign; a responder bought within the window.
-- comparison group: known customers not contacted for that campaign who bought in the 90 days
-- before its start (active, like the targeted ones), measured from the start date.
-- incremental_margin = margin - comparison margin per customer x contacted;
-- roi = (margin - cost) / cost; incremental_roi = (incremental_margin - cost) / cost.
WITH keys AS (
    -- One integer per customer across their SCD2 rows: every join below is on integers.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
sales AS (
    SELECT k.ck, date_part('epoch', s.order_ts) AS t, s.net_amount,
           coalesce(s.margin, 0) AS margin
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0
),
contacted AS (
    SELECT k.campaign_key, c.ck, min(date_part('epoch', k.contact_ts)) AS t
    FROM fact_contacts k
    JOIN keys c ON c.customer_key = k.customer_key
    WHERE k.campaign_key IS NOT NULL AND k.customer_key <> 0
    GROUP BY k.campaign_key, c.ck
),
response AS (
    SELECT t.campaign_key, t.ck, sum(s.net_amount) AS revenue, sum(s.margin) AS margin
    FROM contacted t
    JOIN sales s ON s.ck = t.ck
    WHERE s.t > t.t AND s.t <= t.t + $window_days * 86400
    GROUP BY t.campaign_key, t.ck
),
campaign_stats AS (
    SELECT t.campaign_key,
           count(*) AS contacted,
           count(r.ck) AS responders,
           coalesce(sum(r.revenue), 0) AS revenue,
           coalesce(sum(r.margin), 0) AS margin
    FROM contacted t
    LEFT JOIN response r ON r.campaign_key = t.campaign_key AND r.ck = t.ck
    GROUP BY t.campaign_key
),
starts AS (
    SELECT campaign_key, date_part('epoch', CAST(start_date AS TIMESTAMP)) AS t
    FROM dim_campaign
    WHERE start_date IS NOT NULL
),
-- Each customer's purchases from 90 days before a campaign's start to the end of its window, in
-- one pass: whether they were active before the start, and what they bought in the window.
around_start AS (
    SELECT st.campaign_key, s.ck,
           max(CASE WHEN s.t < st.t THEN 1 ELSE 0 END) AS active_before,
           max(CASE WHEN s.t >= st.t THEN 1 ELSE 0 END) AS bought_in_window,
           sum(CASE WHEN s.t >= st.t THEN s.margin ELSE 0 END) AS window_margin
    FROM starts st
    JOIN sales s ON s.t >= st.t - 90 * 86400 AND s.t < st.t + $window_days * 86400
    GROUP BY st.campaign_key, s.ck
),
-- The comparison group: active before the start and not contacted for the campaign.
comparison_stats AS (
    SELECT a.campaign_key,
           count(*) AS customers,
           sum(a.bought_in_window) AS responders,
           coalesce(sum(CASE WHEN a.bought_in_window = 1 THEN a.window_margin END), 0) AS margin
    FROM around_start a
    LEFT JOIN contacted t ON t.campaign_key = a.campaign_key AND t.ck = a.ck
    WHERE a.active_before = 1 AND t.ck IS NULL
    GROUP BY a.campaign_key
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
