#!/usr/bin/env bash
# ETL benchmark: crm-mart etl vs DuckDB building the same star schema from the same CSVs.
# usage: benches/etl.sh [CUSTOMERS (default 100000)] [RUNS (default 3)]
# Results go to stdout; BENCHMARKS.md records them with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-100000}
runs=${2:-3}
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart
root=$PWD
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
work=$PWD/target/bench-etl-$customers
if [ ! -f "$work/src/planted_defects.csv" ]; then
  "$bin" -q generate --out "$work/src" --customers "$customers" --months 24 --seed 42 --dirty-rate 0.001
fi
lines=$(cat "$work"/src/sales/*.csv | wc -l)
contacts=$(cat "$work"/src/contacts/*.csv | wc -l)
echo "customers=$customers sales_lines=$lines contact_lines=$contacts runs=$runs cores=$(nproc)"
echo -n "crm-mart etl: "
python3 benches/run_timed.py "$runs" "rm -rf $work/mart" -- "$bin" -q etl --source "$work/src" --mart "$work/mart"
echo -n "duckdb:       "
(cd "$work/src" && STDIN="$root/benches/baselines/etl_duckdb.sql" python3 "$root/benches/run_timed.py" "$runs" "rm -rf duckdb-mart && mkdir duckdb-mart" -- "$venv/bin/duckdb")
echo "duckdb version: $("$venv/bin/duckdb" --version)"
