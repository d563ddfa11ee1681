#!/usr/bin/env bash
# Named-query benchmark: every named query as a whole `crm-mart query` command against the DuckDB
# CLI running the same SQL over the same Parquet files, in the same run.
# usage: [CRM_MART_BIN=FILE] benches/queries.sh [CUSTOMERS (default 100000)] [RUNS (default 5)]
# Results go to stdout; BENCHMARKS.md records them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-100000}
runs=${2:-5}
source benches/query_mart.sh
"$venv/bin/python" benches/baselines/duckdb_query.py "$work/mart" "$work/duckdb" queries
echo "customers=$customers runs=$runs cores=$(nproc) duckdb=$("$venv/bin/duckdb" --version)"
printf "%-32s %10s %10s %8s %8s %8s\n" query crm-mart_s duckdb_s ratio rows rows_duckdb
logsum=0; n=0
for f in queries/*.sql; do
  name=$(basename "$f" .sql)
  # The report queries read the models' tables, which this ETL-only mart does not have; the
  # nightly benchmark times them in its report stage.
  case "$name" in report_*) continue ;; esac
  ours=$(python3 benches/run_timed.py "$runs" true -- "$bin" -q query --mart "$work/mart" --name "$name" --format csv)
  theirs=$(python3 benches/run_timed.py "$runs" true -- "$venv/bin/duckdb" -csv -init /dev/null \
    -c ".read $work/duckdb/views.sql" -c ".read $work/duckdb/$name.sql")
  o=$(echo "$ours" | sed 's/median_s=\([0-9.]*\).*/\1/')
  t=$(echo "$theirs" | sed 's/median_s=\([0-9.]*\).*/\1/')
  # Same answer size from both (header excluded).
  r1=$("$bin" -q query --mart "$work/mart" --name "$name" --format csv | tail -n +2 | wc -l)
  r2=$("$venv/bin/duckdb" -csv -init /dev/null -c ".read $work/duckdb/views.sql" -c ".read $work/duckdb/$name.sql" | tail -n +2 | wc -l)
  ratio=$(python3 -c "print(f'{$o/$t:.2f}')")
  printf "%-32s %10s %10s %8s %8s %8s\n" "$name" "$o" "$t" "$ratio" "$r1" "$r2"
  logsum=$(python3 -c "import math; print($logsum + math.log($o/$t))"); n=$((n+1))
done
python3 -c "import math; print(f'geometric mean ratio crm-mart/duckdb over $n queries: {math.exp($logsum/$n):.2f}')"
