-- name: performance_period_comparison
-- description: Performance: revenue, margin and orders by store region, channel and store in a quarter, against the prior quarter and the same quarter a year before.
-- param: year int = 0 | year of the quarter (0: the latest quarter with sales)
-- param: quarter int = 0 | quarter 1-4 (ignored when year is 0)
--
-- Sales without a store count under store '(unspecified)'. *_change is (this - prior) / prior.
-- Quarters are numbered year * 4 + quarter - 1 and computed from date_key (yyyymmdd) with exact
-- integer arithmetic; the three quarters compared are joined to the lines by equality.
WITH latest AS (
    SELECT max(date_key) AS k FROM fact_sales
),
target AS (
    SELECT CASE WHEN $year = 0
                THEN CAST((k - k % 10000) / 10000 * 4
                          + ((k % 10000 - k % 100) / 100 - 1 - ((k % 10000 - k % 100) / 100 - 1) % 3) / 3
                          AS BIGINT)
                ELSE CAST($year * 4 + $quarter - 1 AS BIGINT) END AS cur
    FROM latest
),
-- The three quarters as one unnested list: Ballista 55 stalls on a UNION ALL of one-row
-- selects whose constant rows it splits across tasks.
periods AS (
    SELECT unnest([cur, cur - 1, cur - 4]) AS q, cur FROM target
),
-- Order lines summed per order and store first, then three groupings in one pass.
orders AS (
    SELECT p.q, p.cur, s.store_key, s.order_id,
           sum(s.net_amount) AS revenue, sum(s.margin) AS margin,
           max(CASE WHEN s.is_return THEN 0 ELSE 1 END) AS has_sale
    FROM fact_sales s
    JOIN periods p
      ON p.q = CAST((s.date_key - s.date_key % 10000) / 10000 * 4
                    + ((s.date_key % 10000 - s.date_key % 100) / 100 - 1
                       - ((s.date_key % 10000 - s.date_key % 100) / 100 - 1) % 3) / 3 AS BIGINT)
    GROUP BY p.q, p.cur, s.store_key, s.order_id
),
lines AS (
    SELECT o.q, o.cur, o.order_id, o.revenue, o.margin, o.has_sale,
           coalesce(st.region, '(unknown)') AS region,
           coalesce(st.channel, '(unknown)') AS channel,
           coalesce(st.store_id || ' ' || st.name, '(unspecified)') AS store
    FROM orders o
    LEFT JOIN dim_store st ON st.store_key = o.store_key
),
agg AS (
    SELECT CASE WHEN grouping(region) = 0 THEN 'region'
                WHEN grouping(channel) = 0 THEN 'channel'
                ELSE 'store' END AS level,
           coalesce(region, channel, store) AS member,
           q, cur,
           sum(revenue) AS revenue, sum(margin) AS margin,
           count(DISTINCT CASE WHEN has_sale = 1 THEN order_id END) AS orders
    FROM lines
    GROUP BY GROUPING SETS ((region, q, cur), (channel, q, cur), (store, q, cur))
),
wide AS (
    SELECT level, member, cur,
           sum(CASE WHEN q = cur THEN revenue ELSE 0 END) AS revenue,
           sum(CASE WHEN q = cur - 1 THEN revenue ELSE 0 END) AS prior_revenue,
           sum(CASE WHEN q = cur - 4 THEN revenue ELSE 0 END) AS last_year_revenue,
           sum(CASE WHEN q = cur THEN margin ELSE 0 END) AS margin,
           sum(CASE WHEN q = cur - 1 THEN margin ELSE 0 END) AS prior_margin,
           sum(CASE WHEN q = cur THEN orders ELSE 0 END) AS orders,
           sum(CASE WHEN q = cur - 1 THEN orders ELSE 0 END) AS prior_orders
    FROM agg
    GROUP BY level, member, cur
)
SELECT level,
       member,
       CAST(CAST((cur - cur % 4) / 4 AS INTEGER) AS VARCHAR) || '-Q' || CAST(cur % 4 + 1 AS VARCHAR) AS period,
       revenue,
       prior_revenue,
       (revenue - prior_revenue) / nullif(prior_revenue, 0) AS revenue_change,
       last_year_revenue,
       (revenue - last_year_revenue) / nullif(last_year_revenue, 0) AS revenue_change_year,
       margin,
       prior_margin,
       orders,
       prior_orders
FROM wide
ORDER BY level, revenue DESC, member
