#!/usr/bin/env bash
# Customer value: `crm-mart value` against the Python `lifetimes` package doing the same work
# (summary by day, BG/NBD + Gamma-Gamma fits, P(alive), expected purchases, 12-month CLV) on the
# same transaction file, in the same run: the CDNOW master log, and the daily purchases of
# CUSTOMERS generated customers (exported from the mart by the named query the command uses).
# usage: benches/value.sh [CUSTOMERS (default 1000000)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-1000000}
runs=${2:-3}
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
cdnow=$(realpath ../shared/datasets/cdnow/CDNOW_master.txt)
work=$PWD/target/bench-queries-$customers
if [ ! -f "$work/src/planted_defects.csv" ]; then
  "$bin" -q generate --out "$work/src" --customers "$customers" --months 24 --seed 42 --dirty-rate 0.001
fi
if [ ! -d "$work/mart/fact_sales" ]; then
  "$bin" -q etl --source "$work/src" --mart "$work/mart"
fi
if [ ! -f "$work/daily.csv" ]; then
  "$bin" -q query --mart "$work/mart" --name customer_daily_purchases --output "$work/daily.csv"
fi
mkdir -p "$work/value" && cd "$work/value"
echo "runs=$runs cores=$(nproc) lifetimes=$("$venv/bin/python" -c 'import lifetimes; print(lifetimes.__version__)')"
bench() { # label file customer date amount [extra crm-mart args] -- [extra python args]
  local label=$1 file=$2 c=$3 d=$4 a=$5; shift 5
  local ours_args=() py_args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do ours_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  py_args=("$@")
  echo "== $label: $(wc -l < "$file") lines"
  CRM_MART_LOG=info "$bin" value --input "$file" --customer-col "$c" --date-col "$d" --amount-col "$a" \
    --holdout-days 0 "${ours_args[@]}" 2>&1 >/dev/null \
    | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'customers=.*\|summary_s=.*' | sed 's/^/crm-mart /'
  "$bin" value --input "$file" --customer-col "$c" --date-col "$d" --amount-col "$a" --holdout-days 0 \
    "${ours_args[@]}" 2>/dev/null | sed -n '1,4p;/Gamma-Gamma/,+2p' | grep -v '^[┌└╞]'
  "$venv/bin/python" -W ignore "$OLDPWD/benches/baselines/clv_lifetimes.py" "$file" "$c" "$d" "$a" "${py_args[@]}"
  echo "crm-mart value: $(python3 "$OLDPWD/benches/run_timed.py" "$runs" true -- "$bin" -q value --input "$file" \
    --customer-col "$c" --date-col "$d" --amount-col "$a" --holdout-days 0 "${ours_args[@]}")"
  echo "lifetimes:      $(python3 "$OLDPWD/benches/run_timed.py" "$runs" true -- "$venv/bin/python" -W ignore \
    "$OLDPWD/benches/baselines/clv_lifetimes.py" "$file" "$c" "$d" "$a" "${py_args[@]}")"
}
bench CDNOW_master "$cdnow" customer_id date dollar_value -- --sep '\s+'
bench "generated $customers customers" "$work/daily.csv" customer_id day amount
