-- name: product_category_mix
-- description: Product: revenue, margin, units, orders and buyers by category and subcategory with subtotals, and each one's share of revenue.
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
--
-- '(all)' marks a subtotal (ROLLUP); the row with both '(all)' is the grand total. Revenue and
-- units are net of returns; buyers are distinct known customers.
WITH keys AS (
    -- One integer per customer across their SCD2 rows: distinct counts on integers.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
l AS (
    SELECT coalesce(p.category, '(unknown)') AS category,
           coalesce(p.subcategory, '(unknown)') AS subcategory,
           s.net_amount, s.margin, s.quantity, s.order_id, s.is_return,
           CASE WHEN s.customer_key <> 0 THEN c.ck END AS ck
    FROM fact_sales s
    JOIN dim_product p ON p.product_key = s.product_key
    JOIN keys c ON c.customer_key = s.customer_key
    -- date_key is yyyymmdd: the range is compared on the key itself, which the scan can prune on.
    WHERE s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
),
rolled AS (
    SELECT CASE WHEN GROUPING(category) = 1 THEN '(all)' ELSE category END AS category,
           CASE WHEN GROUPING(subcategory) = 1 THEN '(all)' ELSE subcategory END AS subcategory,
           GROUPING(category) AS all_categories,
           GROUPING(subcategory) AS all_subcategories,
           sum(net_amount) AS revenue,
           sum(margin) AS margin,
           sum(quantity) AS units,
           count(DISTINCT CASE WHEN NOT is_return THEN order_id END) AS orders,
           count(DISTINCT ck) AS buyers
    FROM l
    GROUP BY ROLLUP (category, subcategory)
),
-- The grand total is the rollup's own top row.
totalled AS (
    SELECT rolled.*,
           max(CASE WHEN all_categories = 1 THEN revenue END) OVER () AS total_revenue
    FROM rolled
)
SELECT r.category, r.subcategory, r.revenue,
       r.revenue / nullif(r.total_revenue, 0) AS revenue_share,
       r.margin,
       r.margin / nullif(r.revenue, 0) AS margin_rate,
       r.units, r.orders, r.buyers
FROM totalled r
ORDER BY r.all_categories, r.category, r.all_subcategories, r.subcategory
