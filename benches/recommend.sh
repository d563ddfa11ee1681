#!/usr/bin/env bash
# Recommendations on real and generated data: the baseline ladder of `recommend --evaluate` on the
# real invoice-line export (Online Retail; deterministic, so printed once), and the wall time and
# peak RSS of `recommend` (both models fitted, cross-sell calibrated, rows written) and of
# `recommend --evaluate` (three folds), medians of RUNS, on that mart and on the 100,000-customer
# mart of benches/etl.sh; then `recommend` on a synthetic export with a 20,000-product catalogue
# (benches/large_catalogue.py: 20,000 customers).
# usage: benches/recommend.sh [RUNS (default 5)]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart
real=$PWD/target/bench-real-export
generated=$PWD/target/bench-etl-100000
[ -d "$real/mart/fact_sales" ] || benches/real_export.sh 1 > /dev/null
[ -d "$generated/mart/fact_sales" ] || benches/etl.sh 100000 1 > /dev/null
echo "runs=$runs cores=$(nproc) $("$bin" --version)"
echo "== Online Retail: recommend --evaluate"
"$bin" -q recommend --mart "$real/mart" --evaluate
timed() { # label, then the command
  local label=$1; shift
  echo -n "$label: "
  python3 benches/run_timed.py "$runs" "true" -- "$@"
}
large=$PWD/target/bench-large-catalogue
if [ ! -d "$large/mart/fact_sales" ]; then
  mkdir -p "$large"
  python3 benches/large_catalogue.py "$large/lines.csv" 20000 20000
  sed -e 's|online_retail.csv.gz|lines.csv|' -e 's|^sinks = .*|sinks = []|' "$real/crm-mart.toml" > "$large/crm-mart.toml"
  (cd "$large" && "$bin" -q etl)
fi
for m in "$real" "$generated" "$large"; do
  size=$("$bin" query --mart "$m/mart" --format csv "SELECT count(*) || ' sales lines, ' || count(DISTINCT product_key) || ' products, ' || count(DISTINCT customer_key) || ' customers' FROM fact_sales" 2>/dev/null | tail -1)
  echo "== $(basename "$m"): $size"
  timed "recommend" "$bin" -q recommend --mart "$m/mart" --sink "csv:$m/recommendations.csv"
  timed "recommend --evaluate" "$bin" -q recommend --mart "$m/mart" --evaluate
done
