#!/usr/bin/env bash
# Plain analyst SQL (benches/plain_sql/*.sql: joins through the dimensions, count(DISTINCT …),
# windows, date filters through dim_date, written as a DuckDB user would) as whole `crm-mart
# query --file` commands against the DuckDB CLI running the same text over views of the same
# Parquet files, in the same run; every result is compared value by value.
# usage: [CRM_MART_BIN=FILE] benches/plain_sql.sh [CUSTOMERS (default 100000)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-100000}
runs=${2:-3}
source benches/query_mart.sh
"$venv/bin/python" benches/baselines/duckdb_query.py "$work/mart" "$work/duckdb-plain" benches/plain_sql
echo "customers=$customers runs=$runs cores=$(nproc) duckdb=$("$venv/bin/duckdb" --version)"
printf "%-30s %10s %10s %8s %8s %s\n" query crm-mart_s duckdb_s ratio rows result
logsum=0; n=0
for f in benches/plain_sql/*.sql; do
  name=$(basename "$f" .sql)
  duck=("$venv/bin/duckdb" -csv -init /dev/null -c ".read $work/duckdb-plain/views.sql" -c ".read $work/duckdb-plain/$name.sql")
  ours=$(python3 benches/run_timed.py "$runs" true -- "$bin" -q query --mart "$work/mart" --file "$f" --format csv)
  theirs=$(python3 benches/run_timed.py "$runs" true -- "${duck[@]}")
  o=$(echo "$ours" | sed 's/median_s=\([0-9.]*\).*/\1/')
  t=$(echo "$theirs" | sed 's/median_s=\([0-9.]*\).*/\1/')
  "$bin" -q query --mart "$work/mart" --file "$f" --format csv > "$work/ours.csv"
  "${duck[@]}" > "$work/theirs.csv"
  rows=$(($(wc -l < "$work/ours.csv") - 1))
  same=$(python3 benches/baselines/compare_csv.py "$work/ours.csv" "$work/theirs.csv" || true)
  ratio=$(python3 -c "print(f'{$o/$t:.2f}')")
  printf "%-30s %10s %10s %8s %8s %s\n" "$name" "$o" "$t" "$ratio" "$rows" "$same"
  logsum=$(python3 -c "import math; print($logsum + math.log($o/$t))"); n=$((n+1))
done
python3 -c "import math; print(f'geometric mean ratio crm-mart/duckdb over $n queries: {math.exp($logsum/$n):.2f}')"
