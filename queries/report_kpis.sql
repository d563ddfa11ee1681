-- name: report_kpis
-- description: Report: revenue, margin, orders, buying customers and average order value in the last 90 days up to the last order day, against the 90 days before.
--
-- Returns are netted into revenue and margin; orders and customers count purchases only.
-- Margin is NULL (shown as unknown) when a line of the period has no known unit cost.
WITH bounds AS (
    SELECT CAST(max(order_ts) AS DATE) AS last_day FROM fact_sales
),
periods AS (
    SELECT s.*, CASE WHEN CAST(s.order_ts AS DATE) > b.last_day - INTERVAL '90' DAY THEN 'current'
                     ELSE 'prior' END AS period
    FROM fact_sales s CROSS JOIN bounds b
    WHERE CAST(s.order_ts AS DATE) > b.last_day - INTERVAL '180' DAY
),
agg AS (
    SELECT period,
           sum(net_amount) AS revenue,
           CASE WHEN count(margin) = count(*) THEN sum(margin) END AS margin,
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END) AS orders,
           count(DISTINCT CASE WHEN NOT is_return AND customer_key <> 0 THEN customer_key END) AS customers
    FROM periods
    GROUP BY period
),
kpis AS (
    SELECT 1 AS k, 'Revenue' AS kpi, period, revenue AS value FROM agg
    UNION ALL SELECT 2, 'Margin', period, margin FROM agg
    UNION ALL SELECT 3, 'Orders', period, CAST(orders AS DOUBLE) FROM agg
    UNION ALL SELECT 4, 'Buying customers', period, CAST(customers AS DOUBLE) FROM agg
    UNION ALL SELECT 5, 'Average order value', period, revenue / nullif(orders, 0) FROM agg
)
SELECT kpi,
       max(CASE WHEN period = 'current' THEN value END) AS last_90_days,
       max(CASE WHEN period = 'prior' THEN value END) AS prior_90_days,
       100.0 * (max(CASE WHEN period = 'current' THEN value END)
                / nullif(max(CASE WHEN period = 'prior' THEN value END), 0) - 1) AS change_pct
FROM kpis
GROUP BY k, kpi
ORDER BY k
