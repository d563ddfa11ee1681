#!/usr/bin/env bash
# Recommendations on real and generated data: the baseline ladder of `recommend --evaluate` on the
# real invoice-line export (Online Retail; deterministic, so printed once), and the wall time and
# peak RSS of `recommend` (both models fitted, cross-sell calibrated, rows written) and of
# `recommend --evaluate` (three folds), medians of RUNS, on that mart and on the 100,000-customer
# mart of benches/etl.sh.
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
  local times=() rss=()
  for _ in $(seq "$runs"); do
    out=$( { /usr/bin/time -f '%e %M' "$@" > /dev/null 2>/dev/null; } 2>&1 | tail -1)
    times+=("${out% *}"); rss+=("${out#* }")
  done
  med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  echo "$label: median_s=$(med "${times[@]}") runs_s=$(IFS=,; echo "${times[*]}") peak_rss_mb=$(( $(med "${rss[@]}") / 1024 ))"
}
for m in "$real" "$generated"; do
  lines=$("$bin" query --mart "$m/mart" --format csv "SELECT count(*) FROM fact_sales" 2>/dev/null | tail -1)
  echo "== $(basename "$m"): $lines sales lines"
  timed "recommend" "$bin" -q recommend --mart "$m/mart" --sink "csv:$m/recommendations.csv"
  timed "recommend --evaluate" "$bin" -q recommend --mart "$m/mart" --evaluate
done
