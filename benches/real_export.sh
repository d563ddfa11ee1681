#!/usr/bin/env bash
# The real invoice-line export (UCI Online Retail, 541,909 lines, gzip CSV) end to end:
# `crm-mart etl` from the .csv.gz against DuckDB loading the same file into a table with the same
# rules (exact duplicate lines out, negative prices out), then one `crm-mart nightly` on it.
# usage: benches/real_export.sh [RUNS (default 5)]
# Results go to stdout; BENCHMARKS.md records them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
work=$PWD/target/bench-real-export
mkdir -p "$work"
cp ../shared/datasets/online_retail/online_retail.csv.gz "$work/"
cp benches/online_retail.toml "$work/crm-mart.toml"
cat > "$work/duckdb.sql" <<'SQL'
CREATE TABLE lines AS
SELECT DISTINCT * FROM read_csv('online_retail.csv.gz', header = true, all_varchar = true);
CREATE TABLE fact_sales AS
SELECT InvoiceNo AS order_id, StockCode AS product_id, CAST(Quantity AS DOUBLE) AS quantity,
       CAST(InvoiceDate AS TIMESTAMP) AS order_ts, CAST(UnitPrice AS DOUBLE) AS unit_price,
       CustomerID AS customer_id, Country AS country,
       CAST(Quantity AS DOUBLE) * CAST(UnitPrice AS DOUBLE) AS net_amount
FROM lines WHERE CAST(UnitPrice AS DOUBLE) >= 0;
COPY fact_sales TO 'duckdb-mart/fact_sales.parquet' (FORMAT parquet);
SQL
cd "$work"
echo "lines=$(zcat online_retail.csv.gz | tail -n +2 | wc -l) runs=$runs cores=$(nproc)"
echo -n "crm-mart etl: "
python3 ../../benches/run_timed.py "$runs" "rm -rf mart nightly.jsonl" -- "$bin" -q etl
echo -n "duckdb:       "
STDIN="$work/duckdb.sql" python3 ../../benches/run_timed.py "$runs" "rm -rf duckdb-mart && mkdir duckdb-mart" -- "$venv/bin/duckdb"
echo "duckdb version: $("$venv/bin/duckdb" --version)"
echo -n "crm-mart nightly (first night: etl, segment, churn train + score, value, basket, recommend, report): "
python3 ../../benches/run_timed.py "$runs" "rm -rf mart models reports crm nightly.jsonl" -- "$bin" -q nightly
echo "stages of the last night (s):"
python3 -c "
import json
for l in open('nightly.jsonl'):
    v = json.loads(l)
    print('  ', v['stage'], v['elapsed_s'], v['status'])
"
