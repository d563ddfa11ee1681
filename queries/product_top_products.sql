-- name: product_top_products
-- description: Product: the top products by revenue in a period, optionally within one category.
-- param: top int = 20 | how many products to list
-- param: category text = '' | only this category ('' for all)
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
WITH keys AS (
    -- One integer per customer across their SCD2 rows: distinct counts on integers.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
-- Sums per product first (a grouping on the integer key), the ranking, and only then the
-- distinct orders and buyers, counted over the lines of the top products alone.
p AS (
    SELECT s.product_key,
           sum(s.net_amount) AS revenue,
           sum(s.margin) AS margin,
           sum(s.quantity) AS units
    FROM fact_sales s
    JOIN dim_product pr ON pr.product_key = s.product_key
    -- date_key is yyyymmdd: the range is compared on the key itself, which the scan can prune on.
    WHERE s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
      AND ($category = '' OR pr.category = $category)
    GROUP BY s.product_key
),
ranked AS (
    SELECT row_number() OVER (ORDER BY p.revenue DESC, pr.product_id) AS rank,
           p.product_key, pr.product_id, pr.name, pr.category, p.revenue, p.margin, p.units
    FROM p
    JOIN dim_product pr ON pr.product_key = p.product_key
),
counted AS (
    SELECT t.rank, t.product_id, t.name, t.category, t.revenue, t.margin, t.units,
           count(DISTINCT CASE WHEN NOT s.is_return THEN s.order_id END) AS orders,
           count(DISTINCT CASE WHEN s.customer_key <> 0 THEN k.ck END) AS buyers
    FROM fact_sales s
    JOIN ranked t ON t.product_key = s.product_key AND t.rank <= $top
    JOIN keys k ON k.customer_key = s.customer_key
    WHERE s.date_key BETWEEN date_part('year', CAST($from_date AS DATE)) * 10000
                             + date_part('month', CAST($from_date AS DATE)) * 100
                             + date_part('day', CAST($from_date AS DATE))
                         AND date_part('year', CAST($to_date AS DATE)) * 10000
                             + date_part('month', CAST($to_date AS DATE)) * 100
                             + date_part('day', CAST($to_date AS DATE))
    GROUP BY t.rank, t.product_id, t.name, t.category, t.revenue, t.margin, t.units
)
SELECT rank, product_id, name, category, revenue, margin, units, orders, buyers
FROM counted
ORDER BY rank
