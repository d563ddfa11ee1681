-- name: product_cross_category
-- description: Product: cross-category buying; for each pair of categories, how many customers bought both, the share of the first category's buyers who also bought the second, and the lift over the second's overall reach.
-- param: min_customers int = 1 | leave out pairs bought by fewer customers than this
--
-- Counted over known customers and all history (returns excluded).
-- share = both / buyers(category); lift = share / (buyers(also_bought) / all buyers).
WITH keys AS (
    -- One integer per customer across their SCD2 rows.
    SELECT customer_key, min(customer_key) OVER (PARTITION BY customer_id) AS ck
    FROM dim_customer
),
cc AS (
    SELECT DISTINCT c.ck, p.category
    FROM fact_sales s
    JOIN keys c ON c.customer_key = s.customer_key
    JOIN dim_product p ON p.product_key = s.product_key
    WHERE s.customer_key <> 0 AND NOT s.is_return AND p.category IS NOT NULL
),
everyone AS (
    SELECT count(DISTINCT ck) AS buyers FROM cc
),
cat AS (
    SELECT category, count(*) AS buyers FROM cc GROUP BY category
),
pairs AS (
    SELECT a.category, b.category AS also_bought, count(*) AS customers_both
    FROM cc a
    JOIN cc b ON b.ck = a.ck AND b.category <> a.category
    GROUP BY a.category, b.category
)
SELECT pr.category,
       pr.also_bought,
       ca.buyers AS category_buyers,
       pr.customers_both,
       CAST(pr.customers_both AS DOUBLE) / ca.buyers AS share,
       (CAST(pr.customers_both AS DOUBLE) / ca.buyers)
           / (CAST(cb.buyers AS DOUBLE) / e.buyers) AS lift
FROM pairs pr
JOIN cat ca ON ca.category = pr.category
JOIN cat cb ON cb.category = pr.also_bought
CROSS JOIN everyone e
WHERE pr.customers_both >= $min_customers
ORDER BY lift DESC, pr.category, pr.also_bought
