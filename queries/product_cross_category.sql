-- name: product_cross_category
-- description: Product: cross-category buying; for each pair of categories, how many customers bought both, the share of the first category's buyers who also bought the second, and the lift over the second's overall reach.
-- param: min_customers int = 1 | leave out pairs bought by fewer customers than this
--
-- Counted over known customers and all history (returns excluded).
-- share = both / buyers(category); lift = share / (buyers(also_bought) / all buyers).
WITH keys AS (
    -- One integer per customer across their SCD2 rows.
    -- The smallest key per customer_id, joined back (a window over the text id is much slower).
    SELECT c.customer_key, f.ck
    FROM dim_customer c
    JOIN (SELECT customer_id, min(customer_key) AS ck FROM dim_customer GROUP BY customer_id) f
      ON f.customer_id = c.customer_id
),
-- Categories numbered, so that the distinct (customer, category) pairs are pairs of integers.
categories AS (
    SELECT product_key, category, dense_rank() OVER (ORDER BY category) AS cat
    FROM dim_product
    WHERE category IS NOT NULL
),
-- Distinct (customer version, category) first, against the small category table; then mapped
-- to customers (a customer's versions collapse into one).
cc AS (
    SELECT DISTINCT k.ck, v.category
    FROM (SELECT DISTINCT s.customer_key, p.cat AS category
          FROM fact_sales s
          JOIN categories p ON p.product_key = s.product_key
          WHERE s.customer_key <> 0 AND NOT s.is_return) v
    JOIN keys k ON k.customer_key = v.customer_key
),
-- Each customer's categories as one list, then every pair within it (the category with itself
-- included: the diagonal is each category's number of buyers). A customer is also counted once,
-- under the first category of their list, for the number of all buyers.
baskets AS (
    SELECT ck, array_agg(category) AS cats FROM cc GROUP BY ck
),
firsts AS (
    SELECT unnest(cats) AS category, cats FROM baskets
),
pairs_all AS (
    SELECT category, also_bought, count(*) AS customers_both,
           sum(CASE WHEN category = also_bought AND category = first_category THEN 1 ELSE 0 END)
               AS first_here
    FROM (SELECT category, unnest(cats) AS also_bought, cats[1] AS first_category FROM firsts) x
    GROUP BY category, also_bought
),
pairs AS (
    SELECT category, also_bought, customers_both,
           max(CASE WHEN category = also_bought THEN customers_both END)
               OVER (PARTITION BY category) AS category_buyers,
           max(CASE WHEN category = also_bought THEN customers_both END)
               OVER (PARTITION BY also_bought) AS also_bought_buyers,
           sum(first_here) OVER () AS everyone
    FROM pairs_all
),
named AS (
    SELECT DISTINCT cat, category FROM categories
)
SELECT na.category,
       nb.category AS also_bought,
       pr.category_buyers,
       pr.customers_both,
       CAST(pr.customers_both AS DOUBLE) / pr.category_buyers AS share,
       (CAST(pr.customers_both AS DOUBLE) / pr.category_buyers)
           / (CAST(pr.also_bought_buyers AS DOUBLE) / pr.everyone) AS lift
FROM pairs pr
JOIN named na ON na.cat = pr.category
JOIN named nb ON nb.cat = pr.also_bought
WHERE pr.category <> pr.also_bought AND pr.customers_both >= $min_customers
ORDER BY lift DESC, na.category, nb.category
