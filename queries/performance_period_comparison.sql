-- name: performance_period_comparison
-- description: Performance: revenue, margin and orders by store region, channel and store in a quarter, against the prior quarter and the same quarter a year before.
-- param: year int = 0 | year of the quarter (0: the latest quarter with sales)
-- param: quarter int = 0 | quarter 1-4 (ignored when year is 0)
--
-- Sales without a store count under store '(unspecified)'. *_change is (this - prior) / prior.
WITH lines AS (
    SELECT d.year * 4 + d.quarter - 1 AS q,
           s.order_id, s.net_amount, s.margin, s.is_return,
           coalesce(st.region, '(unknown)') AS region,
           coalesce(st.channel, '(unknown)') AS channel,
           coalesce(st.store_id || ' ' || st.name, '(unspecified)') AS store
    FROM fact_sales s
    JOIN dim_date d ON d.date_key = s.date_key
    LEFT JOIN dim_store st ON st.store_key = s.store_key
),
target AS (
    SELECT CASE WHEN $year = 0 THEN max(q) ELSE $year * 4 + $quarter - 1 END AS cur
    FROM lines
),
periods AS (
    SELECT cur, cur - 1 AS prev, cur - 4 AS last_year FROM target
),
picked AS (
    SELECT l.*, p.cur, p.prev, p.last_year
    FROM lines l
    CROSS JOIN periods p
    WHERE l.q = p.cur OR l.q = p.prev OR l.q = p.last_year
),
agg AS (
    SELECT 'region' AS level, region AS member, q, cur, prev, last_year,
           sum(net_amount) AS revenue, sum(margin) AS margin,
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END) AS orders
    FROM picked GROUP BY region, q, cur, prev, last_year
    UNION ALL
    SELECT 'channel', channel, q, cur, prev, last_year,
           sum(net_amount), sum(margin),
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END)
    FROM picked GROUP BY channel, q, cur, prev, last_year
    UNION ALL
    SELECT 'store', store, q, cur, prev, last_year,
           sum(net_amount), sum(margin),
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END)
    FROM picked GROUP BY store, q, cur, prev, last_year
),
wide AS (
    SELECT level, member, cur,
           sum(CASE WHEN q = cur THEN revenue ELSE 0 END) AS revenue,
           sum(CASE WHEN q = prev THEN revenue ELSE 0 END) AS prior_revenue,
           sum(CASE WHEN q = last_year THEN revenue ELSE 0 END) AS last_year_revenue,
           sum(CASE WHEN q = cur THEN margin ELSE 0 END) AS margin,
           sum(CASE WHEN q = prev THEN margin ELSE 0 END) AS prior_margin,
           sum(CASE WHEN q = cur THEN orders ELSE 0 END) AS orders,
           sum(CASE WHEN q = prev THEN orders ELSE 0 END) AS prior_orders
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
