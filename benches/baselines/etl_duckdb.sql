-- DuckDB baseline for `crm-mart etl`: the same CSV → Parquet star build from a generated source
-- directory, with the same validation (typed parse with TRY_CAST/TRY_STRPTIME, required ids,
-- value rules, references) and bad rows written to a quarantine file.
-- Run from the source directory: duckdb < etl_duckdb.sql  (output in ./duckdb-mart/)
SET preserve_insertion_order = false;

CREATE TABLE raw_sales AS
SELECT * FROM read_csv('sales/*.csv', header = true, all_varchar = true, ignore_errors = true,
                       store_rejects = true, filename = true);
CREATE TABLE raw_contacts AS
SELECT * FROM read_csv('contacts/*.csv', header = true, all_varchar = true, ignore_errors = true,
                       store_rejects = true, filename = true);

CREATE TABLE dim_customer AS
SELECT row_number() OVER (ORDER BY customer_id) AS customer_key, customer_id, name, email, phone,
       city, region, country, gender, year(TRY_CAST(birth_date AS DATE)) AS birth_year,
       TRY_CAST(signup_date AS DATE) AS signup_date, channel,
       TIMESTAMP '1900-01-01' AS valid_from, TIMESTAMP '2199-12-31' AS valid_to, true AS is_current
FROM read_csv('customers.csv', header = true, all_varchar = true);
CREATE TABLE dim_product AS
SELECT row_number() OVER (ORDER BY product_id) AS product_key, product_id, name, category,
       subcategory, brand, TRY_CAST(unit_price AS DOUBLE) AS unit_price,
       TRY_CAST(unit_cost AS DOUBLE) AS unit_cost
FROM read_csv('products.csv', header = true, all_varchar = true);
CREATE TABLE dim_store AS
SELECT row_number() OVER (ORDER BY store_id) AS store_key, *
FROM read_csv('stores.csv', header = true, all_varchar = true);
CREATE TABLE dim_campaign AS
SELECT row_number() OVER (ORDER BY campaign_id) AS campaign_key, campaign_id, name, channel,
       TRY_CAST(start_date AS DATE) AS start_date, TRY_CAST(end_date AS DATE) AS end_date,
       TRY_CAST(cost AS DOUBLE) AS cost
FROM read_csv('campaigns.csv', header = true, all_varchar = true);

CREATE TABLE typed_sales AS
SELECT s.*, TRY_STRPTIME(s.order_ts, '%Y-%m-%d %H:%M:%S') AS ts,
       TRY_CAST(s.quantity AS DOUBLE) AS q, TRY_CAST(s.unit_price AS DOUBLE) AS p,
       COALESCE(TRY_CAST(s.discount AS DOUBLE), 0) AS d,
       c.customer_key, pr.product_key, pr.unit_cost, st.store_key
FROM raw_sales s
LEFT JOIN dim_customer c USING (customer_id)
LEFT JOIN dim_product pr USING (product_id)
LEFT JOIN dim_store st USING (store_id);

COPY (
  SELECT order_id, TRY_CAST(line_no AS BIGINT) AS line_no,
         CAST(strftime(ts, '%Y%m%d') AS INTEGER) AS date_key, ts AS order_ts,
         customer_key, product_key, store_key, q AS quantity, p AS unit_price, d AS discount,
         q * p * (1 - d) AS net_amount, q * unit_cost AS cost_amount,
         q * p * (1 - d) - q * unit_cost AS margin, q < 0 AS is_return,
         CAST(strftime(ts, '%Y%m') AS INTEGER) AS month_key
  FROM typed_sales
  WHERE ts IS NOT NULL AND q IS NOT NULL AND q <> 0 AND p IS NOT NULL AND p >= 0
    AND customer_key IS NOT NULL AND product_key IS NOT NULL AND store_key IS NOT NULL
) TO 'duckdb-mart/fact_sales' (FORMAT PARQUET, PARTITION_BY (month_key), OVERWRITE_OR_IGNORE);

COPY (
  SELECT filename, order_id, line_no, 'invalid' AS reason FROM typed_sales
  WHERE NOT (ts IS NOT NULL AND q IS NOT NULL AND q <> 0 AND p IS NOT NULL AND p >= 0
    AND customer_key IS NOT NULL AND product_key IS NOT NULL AND store_key IS NOT NULL)
) TO 'duckdb-mart/quarantine_sales.parquet' (FORMAT PARQUET);

COPY (
  SELECT k.contact_id, CAST(strftime(ts, '%Y%m%d') AS INTEGER) AS date_key, ts AS contact_ts,
         c.customer_key, cp.campaign_key, k.channel, k.direction, k.contact_type, k.outcome,
         TRY_CAST(k.duration_s AS DOUBLE) AS duration_s,
         TRY_CAST(k.satisfaction AS INTEGER) AS satisfaction,
         CAST(strftime(ts, '%Y%m') AS INTEGER) AS month_key
  FROM (SELECT *, TRY_STRPTIME(contact_ts, '%Y-%m-%d %H:%M:%S') AS ts FROM raw_contacts) k
  JOIN dim_customer c USING (customer_id)
  LEFT JOIN dim_campaign cp USING (campaign_id)
  WHERE ts IS NOT NULL
    AND (k.satisfaction IS NULL OR TRY_CAST(k.satisfaction AS INTEGER) BETWEEN 1 AND 5)
) TO 'duckdb-mart/fact_contacts' (FORMAT PARQUET, PARTITION_BY (month_key), OVERWRITE_OR_IGNORE);

COPY dim_customer TO 'duckdb-mart/dim_customer.parquet' (FORMAT PARQUET);
COPY dim_product TO 'duckdb-mart/dim_product.parquet' (FORMAT PARQUET);
COPY dim_store TO 'duckdb-mart/dim_store.parquet' (FORMAT PARQUET);
COPY dim_campaign TO 'duckdb-mart/dim_campaign.parquet' (FORMAT PARQUET);
