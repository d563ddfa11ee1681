-- name: profitability_deciles
-- description: Profitability: customers ranked by margin into deciles; each decile's revenue, margin, share of margin and the cumulative share (decile 2 = the top 20%).
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
--
-- Known customers with sales in the period, ranked by total margin (highest first; ties by
-- customer_id) and cut with NTILE(10): decile sizes differ by at most one, larger first.
WITH keys AS (
    -- One integer per customer across their SCD2 rows.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, c.customer_id, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
by_key AS (
    SELECT customer_key, sum(net_amount) AS revenue, sum(margin) AS margin
    FROM fact_sales
    WHERE customer_key <> 0
      -- date_key is yyyymmdd: the range is compared on the key itself, which the scan can prune on.
      AND date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
    GROUP BY customer_key
),
cm AS (
    SELECT k.customer_id,
           sum(b.revenue) AS revenue,
           coalesce(sum(b.margin), 0) AS margin
    FROM by_key b
    JOIN keys k ON k.customer_key = b.customer_key
    GROUP BY k.customer_id
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
)
SELECT d.decile,
       d.customers,
       d.revenue,
       d.margin,
       d.min_customer_margin,
       d.margin / nullif(sum(d.margin) OVER (), 0) AS margin_share,
       sum(d.margin) OVER (ORDER BY d.decile ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           / nullif(sum(d.margin) OVER (), 0) AS cumulative_margin_share
FROM deciles d
ORDER BY d.decile
