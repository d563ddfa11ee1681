-- name: profitability_deciles
-- description: Profitability: customers ranked by margin into deciles; each decile's revenue, margin, share of margin and the cumulative share (decile 2 = the top 20%).
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
--
-- Known customers with sales in the period, ranked by total margin (highest first; ties by
-- customer_id) and cut with NTILE(10): decile sizes differ by at most one, larger first.
WITH cm AS (
    SELECT c.customer_id,
           sum(s.net_amount) AS revenue,
           coalesce(sum(s.margin), 0) AS margin
    FROM fact_sales s
    JOIN dim_customer c ON c.customer_key = s.customer_key
    JOIN dim_date d ON d.date_key = s.date_key
    WHERE s.customer_key <> 0
      AND d.date BETWEEN $from_date AND $to_date
    GROUP BY c.customer_id
),
ranked AS (
    SELECT customer_id, revenue, margin,
           NTILE(10) OVER (ORDER BY margin DESC, customer_id) AS decile
    FROM cm
),
deciles AS (
    SELECT decile, count(*) AS customers, sum(revenue) AS revenue, sum(margin) AS margin,
           min(margin) AS min_customer_margin
    FROM ranked
    GROUP BY decile
),
total AS (
    SELECT sum(margin) AS margin FROM cm
)
SELECT d.decile,
       d.customers,
       d.revenue,
       d.margin,
       d.min_customer_margin,
       d.margin / nullif(t.margin, 0) AS margin_share,
       sum(d.margin) OVER (ORDER BY d.decile ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           / nullif(t.margin, 0) AS cumulative_margin_share
FROM deciles d
CROSS JOIN total t
ORDER BY d.decile
