-- The three best products of every category in 2024.
WITH r AS (
  SELECT p.category, p.product_id, sum(f.net_amount) AS revenue
  FROM fact_sales f
  JOIN dim_product p ON f.product_key = p.product_key
  JOIN dim_date d ON f.date_key = d.date_key
  WHERE d.year = 2024
  GROUP BY p.category, p.product_id
)
SELECT category, product_id, revenue, rank
FROM (SELECT *, row_number() OVER (PARTITION BY category ORDER BY revenue DESC, product_id) AS rank FROM r) t
WHERE rank <= 3
ORDER BY category, rank;
