-- name: report_monthly_sales
-- description: Report: revenue, margin, orders and buying customers per calendar month; a first or last month that the data covers only in part is marked "(partial)".
--
-- margin is NULL (shown as unknown) for a month with a line whose unit cost is unknown.
WITH monthly AS (
    SELECT d.year * 100 + d.month AS month_no,
           min(s.date_key) AS first_key,
           max(s.date_key) AS last_key,
           sum(s.net_amount) AS revenue,
           CASE WHEN count(s.margin) = count(*) THEN sum(s.margin) END AS margin,
           count(DISTINCT CASE WHEN NOT s.is_return THEN s.order_id END) AS orders,
           count(DISTINCT CASE WHEN NOT s.is_return AND s.customer_key <> 0 THEN s.customer_key END) AS customers
    FROM fact_sales s
    JOIN dim_date d ON d.date_key = s.date_key
    GROUP BY d.year * 100 + d.month
),
span AS (
    SELECT min(month_no) AS first_month, max(month_no) AS last_month FROM monthly
),
month_days AS (
    SELECT year * 100 + month AS month_no, min(date_key) AS month_first, max(date_key) AS month_last
    FROM dim_date
    GROUP BY year * 100 + month
)
SELECT CASE WHEN (m.month_no = p.last_month AND m.last_key < d.month_last)
              OR (m.month_no = p.first_month AND m.first_key > d.month_first)
            THEN concat(CAST(m.month_no AS VARCHAR), ' (partial)')
            ELSE CAST(m.month_no AS VARCHAR) END AS month,
       m.revenue, m.margin, m.orders, m.customers
FROM monthly m
CROSS JOIN span p
JOIN month_days d ON d.month_no = m.month_no
ORDER BY m.month_no
