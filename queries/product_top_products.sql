-- name: product_top_products
-- description: Product: the top products by revenue in a period, optionally within one category.
-- param: top int = 20 | how many products to list
-- param: category text = '' | only this category ('' for all)
-- param: from_date date = 1900-01-01 | first order date counted
-- param: to_date date = 2199-12-31 | last order date counted
WITH p AS (
    SELECT pr.product_id,
           pr.name,
           pr.category,
           sum(s.net_amount) AS revenue,
           sum(s.margin) AS margin,
           sum(s.quantity) AS units,
           count(DISTINCT CASE WHEN NOT s.is_return THEN s.order_id END) AS orders,
           count(DISTINCT CASE WHEN s.customer_key <> 0 THEN c.customer_id END) AS buyers
    FROM fact_sales s
    JOIN dim_product pr ON pr.product_key = s.product_key
    JOIN dim_customer c ON c.customer_key = s.customer_key
    JOIN dim_date d ON d.date_key = s.date_key
    WHERE d.date BETWEEN $from_date AND $to_date
      AND ($category = '' OR pr.category = $category)
    GROUP BY pr.product_id, pr.name, pr.category
),
ranked AS (
    SELECT row_number() OVER (ORDER BY revenue DESC, product_id) AS rank, *
    FROM p
)
SELECT rank, product_id, name, category, revenue, margin, units, orders, buyers
FROM ranked
WHERE rank <= $top
ORDER BY rank
