-- name: customer_features
-- description: Model features: one row per customer who bought on or before as_of, from history up to as_of only, with the churn label (no order in the next horizon_days).
-- param: as_of date = 2199-12-31 | the cut: history up to and including this day
-- param: horizon_days int = 90 | days after as_of in which no order means churned
--
-- Times are in days (epoch days, fractional); "cut" is the end of the as_of day. Windows:
-- *_90d = the 90 days before the cut, *_365d = the 365 days before. label_known is 1 when the
-- mart's data reaches the end of the horizon (otherwise churned is not yet observable).
WITH ref AS (
    SELECT date_part('epoch', CAST($as_of AS TIMESTAMP)) / 86400.0 + 1 AS cut
),
data_end AS (
    SELECT date_part('epoch', max(order_ts)) / 86400.0 AS last_day FROM fact_sales
),
-- One integer per customer across the versions of dim_customer (SCD2), so that every join and
-- grouping below is on integers; the customer_id is looked up once at the end.
keys AS (
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
-- Lines before the cut. The cut is written out as a constant (not joined from ref) so that it
-- reaches the scan: files and row groups after it are skipped, and no per-row join is needed.
-- age = days between the line and the cut.
hist AS (
    SELECT k.ck, s.order_id, s.product_key, s.net_amount, coalesce(s.margin, 0) AS margin,
           s.discount, s.is_return,
           date_part('epoch', s.order_ts) / 86400.0 AS day,
           (date_part('epoch', CAST($as_of AS TIMESTAMP)) / 86400.0 + 1)
               - date_part('epoch', s.order_ts) / 86400.0 AS age
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0
      AND s.order_ts < CAST($as_of AS TIMESTAMP) + INTERVAL '1 day'
),
orders AS (
    SELECT ck, order_id, min(day) AS day, max(age) AS age
    FROM hist
    WHERE NOT is_return
    GROUP BY ck, order_id
),
order_stats AS (
    SELECT ck,
           count(*) AS frequency,
           min(day) AS first_day,
           max(day) AS last_day,
           sum(CASE WHEN age <= 90 THEN 1 ELSE 0 END) AS orders_90d,
           sum(CASE WHEN age > 90 AND age <= 180 THEN 1 ELSE 0 END) AS orders_prev_90d
    FROM orders
    GROUP BY ck
),
-- Line measures and category breadth in one pass: first per (customer, category), then per
-- customer (distinct categories counted as groups, not as a per-customer distinct set).
category_stats AS (
    SELECT h.ck, p.category,
           -- Summed as decimals: exact, so the per-customer total of these sums does not depend
           -- on the order in which the categories arrive (float sums would, in the last bits).
           sum(CAST(h.net_amount AS DECIMAL(38, 10))) AS monetary,
           sum(CAST(h.margin AS DECIMAL(38, 10))) AS margin,
           count(*) AS lines,
           sum(CASE WHEN h.discount > 0 THEN 1 ELSE 0 END) AS discounted,
           sum(CASE WHEN h.is_return THEN 1 ELSE 0 END) AS returned
    FROM hist h
    LEFT JOIN dim_product p ON p.product_key = h.product_key
    GROUP BY h.ck, p.category
),
line_stats AS (
    SELECT ck,
           CAST(sum(monetary) AS DOUBLE) AS monetary,
           CAST(sum(margin) AS DOUBLE) AS margin,
           CAST(sum(discounted) AS DOUBLE) / sum(lines) AS discount_share,
           CAST(sum(returned) AS DOUBLE) / sum(lines) AS return_rate,
           count(category) AS category_breadth
    FROM category_stats
    GROUP BY ck
),
contacts AS (
    SELECT c.ck, k.contact_id, date_part('epoch', k.contact_ts) / 86400.0 AS day,
           (date_part('epoch', CAST($as_of AS TIMESTAMP)) / 86400.0 + 1)
               - date_part('epoch', k.contact_ts) / 86400.0 AS age,
           k.channel, k.contact_type, k.outcome, k.satisfaction, k.campaign_key
    FROM fact_contacts k
    JOIN keys c ON c.customer_key = k.customer_key
    WHERE k.customer_key <> 0
      AND k.contact_ts < CAST($as_of AS TIMESTAMP) + INTERVAL '1 day'
),
contact_stats AS (
    SELECT ck,
           sum(CASE WHEN k.contact_type = 'inquiry' AND k.age <= 90 THEN 1 ELSE 0 END) AS inquiry_90d,
           sum(CASE WHEN k.contact_type = 'inquiry' AND k.age <= 365 THEN 1 ELSE 0 END) AS inquiry_365d,
           sum(CASE WHEN k.contact_type = 'complaint' AND k.age <= 90 THEN 1 ELSE 0 END) AS complaint_90d,
           sum(CASE WHEN k.contact_type = 'complaint' AND k.age <= 365 THEN 1 ELSE 0 END) AS complaint_365d,
           sum(CASE WHEN k.contact_type = 'service' AND k.age <= 90 THEN 1 ELSE 0 END) AS service_90d,
           sum(CASE WHEN k.contact_type = 'service' AND k.age <= 365 THEN 1 ELSE 0 END) AS service_365d,
           sum(CASE WHEN k.contact_type = 'campaign' AND k.age <= 90 THEN 1 ELSE 0 END) AS campaign_90d,
           sum(CASE WHEN k.contact_type = 'campaign' AND k.age <= 365 THEN 1 ELSE 0 END) AS campaign_365d,
           sum(CASE WHEN k.contact_type = 'sales_call' AND k.age <= 90 THEN 1 ELSE 0 END) AS sales_call_90d,
           sum(CASE WHEN k.contact_type = 'sales_call' AND k.age <= 365 THEN 1 ELSE 0 END) AS sales_call_365d,
           sum(CASE WHEN k.channel = 'phone' AND k.age <= 90 THEN 1 ELSE 0 END) AS phone_90d,
           sum(CASE WHEN k.channel = 'phone' AND k.age <= 365 THEN 1 ELSE 0 END) AS phone_365d,
           sum(CASE WHEN k.channel = 'email' AND k.age <= 90 THEN 1 ELSE 0 END) AS email_90d,
           sum(CASE WHEN k.channel = 'email' AND k.age <= 365 THEN 1 ELSE 0 END) AS email_365d,
           sum(CASE WHEN k.channel = 'visit' AND k.age <= 90 THEN 1 ELSE 0 END) AS visit_90d,
           sum(CASE WHEN k.channel = 'visit' AND k.age <= 365 THEN 1 ELSE 0 END) AS visit_365d,
           sum(CASE WHEN k.channel = 'web' AND k.age <= 90 THEN 1 ELSE 0 END) AS web_90d,
           sum(CASE WHEN k.channel = 'web' AND k.age <= 365 THEN 1 ELSE 0 END) AS web_365d,
           sum(CASE WHEN k.channel = 'chat' AND k.age <= 90 THEN 1 ELSE 0 END) AS chat_90d,
           sum(CASE WHEN k.channel = 'chat' AND k.age <= 365 THEN 1 ELSE 0 END) AS chat_365d,
           sum(CASE WHEN k.contact_type = 'complaint' THEN 1 ELSE 0 END) AS complaints,
           sum(CASE WHEN k.contact_type = 'complaint' AND k.outcome = 'unresolved' THEN 1 ELSE 0 END)
               AS unresolved_complaints,
           sum(CASE WHEN k.contact_type = 'complaint' AND k.outcome = 'unresolved' AND k.age <= 365
                    THEN 1 ELSE 0 END) AS unresolved_complaints_365d,
           avg(CASE WHEN k.age <= 365 THEN k.satisfaction END) AS satisfaction_mean_365d,
           min(CASE WHEN k.age <= 365 THEN k.satisfaction END) AS satisfaction_min_365d,
           min(k.age) AS days_since_last_contact
    FROM contacts k
    GROUP BY k.ck
),
campaign_hits AS (
    -- The window condition sits in the join, so only orders inside it are matched (a join on the
    -- customer alone would pair every campaign contact with every order first).
    SELECT k.ck, k.contact_id,
           max(CASE WHEN o.ck IS NULL THEN 0 ELSE 1 END) AS responded
    FROM contacts k
    LEFT JOIN orders o
           ON o.ck = k.ck AND o.day > k.day AND o.day <= k.day + 30
    WHERE k.campaign_key IS NOT NULL
    GROUP BY k.ck, k.contact_id
),
campaign_response AS (
    SELECT ck, count(*) AS campaign_contacts, sum(responded) AS responded
    FROM campaign_hits
    GROUP BY ck
),
future AS (
    SELECT DISTINCT k.ck
    FROM fact_sales s
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.customer_key <> 0 AND NOT s.is_return
      AND s.order_ts >= CAST($as_of AS TIMESTAMP) + INTERVAL '1 day'
      AND date_part('epoch', s.order_ts) / 86400.0
          < date_part('epoch', CAST($as_of AS TIMESTAMP)) / 86400.0 + 1 + $horizon_days
)
SELECT c.customer_id,
       CAST($as_of AS DATE) AS as_of,
       ref.cut - o.last_day AS recency_days,
       CAST(o.frequency AS DOUBLE) AS frequency,
       l.monetary,
       l.margin,
       ref.cut - o.first_day AS tenure_days,
       l.monetary / o.frequency AS avg_basket,
       CASE WHEN o.frequency > 1 THEN (o.last_day - o.first_day) / (o.frequency - 1)
            ELSE ref.cut - o.first_day END AS mean_interpurchase_days,
       ln((1.0 + o.orders_90d) / (1.0 + o.orders_prev_90d)) AS trend,
       CAST(o.orders_90d AS DOUBLE) AS orders_90d,
       CAST(o.orders_prev_90d AS DOUBLE) AS orders_prev_90d,
       CAST(l.category_breadth AS DOUBLE) AS category_breadth,
       l.discount_share,
       l.return_rate,
       CAST(coalesce(k.inquiry_90d, 0) AS DOUBLE) AS inquiry_90d,
       CAST(coalesce(k.inquiry_365d, 0) AS DOUBLE) AS inquiry_365d,
       CAST(coalesce(k.complaint_90d, 0) AS DOUBLE) AS complaint_90d,
       CAST(coalesce(k.complaint_365d, 0) AS DOUBLE) AS complaint_365d,
       CAST(coalesce(k.service_90d, 0) AS DOUBLE) AS service_90d,
       CAST(coalesce(k.service_365d, 0) AS DOUBLE) AS service_365d,
       CAST(coalesce(k.campaign_90d, 0) AS DOUBLE) AS campaign_90d,
       CAST(coalesce(k.campaign_365d, 0) AS DOUBLE) AS campaign_365d,
       CAST(coalesce(k.sales_call_90d, 0) AS DOUBLE) AS sales_call_90d,
       CAST(coalesce(k.sales_call_365d, 0) AS DOUBLE) AS sales_call_365d,
       CAST(coalesce(k.phone_90d, 0) AS DOUBLE) AS phone_90d,
       CAST(coalesce(k.phone_365d, 0) AS DOUBLE) AS phone_365d,
       CAST(coalesce(k.email_90d, 0) AS DOUBLE) AS email_90d,
       CAST(coalesce(k.email_365d, 0) AS DOUBLE) AS email_365d,
       CAST(coalesce(k.visit_90d, 0) AS DOUBLE) AS visit_90d,
       CAST(coalesce(k.visit_365d, 0) AS DOUBLE) AS visit_365d,
       CAST(coalesce(k.web_90d, 0) AS DOUBLE) AS web_90d,
       CAST(coalesce(k.web_365d, 0) AS DOUBLE) AS web_365d,
       CAST(coalesce(k.chat_90d, 0) AS DOUBLE) AS chat_90d,
       CAST(coalesce(k.chat_365d, 0) AS DOUBLE) AS chat_365d,
       CAST(coalesce(k.complaints, 0) AS DOUBLE) AS complaints,
       CAST(coalesce(k.unresolved_complaints, 0) AS DOUBLE) AS unresolved_complaints,
       CAST(coalesce(k.unresolved_complaints_365d, 0) AS DOUBLE) AS unresolved_complaints_365d,
       CAST(coalesce(k.satisfaction_mean_365d, 3) AS DOUBLE) AS satisfaction_mean_365d,
       CAST(coalesce(k.satisfaction_min_365d, 3) AS DOUBLE) AS satisfaction_min_365d,
       coalesce(k.days_since_last_contact, ref.cut - o.first_day) AS days_since_last_contact,
       coalesce(CAST(r.responded AS DOUBLE) / r.campaign_contacts, 0) AS campaign_response_rate,
       CASE WHEN f.ck IS NULL THEN 1 ELSE 0 END AS churned,
       CASE WHEN ref.cut + $horizon_days <= d.last_day + 1 THEN 1 ELSE 0 END AS label_known
FROM order_stats o
JOIN line_stats l ON l.ck = o.ck
JOIN dim_customer c ON c.customer_key = o.ck
CROSS JOIN ref
CROSS JOIN data_end d
LEFT JOIN contact_stats k ON k.ck = o.ck
LEFT JOIN campaign_response r ON r.ck = o.ck
LEFT JOIN future f ON f.ck = o.ck
ORDER BY c.customer_id
