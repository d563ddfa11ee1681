#!/usr/bin/env bash
# FP-Growth: `crm-mart basket --itemsets` against pyfim (Borgelt's C FP-Growth) and mlxtend on the
# FIMI retail data, same run, same support thresholds; wall time (median) and peak RSS of each
# whole process, and the itemset counts (which must agree).
# usage: benches/basket.sh [RUNS (default 3)] [MLXTEND_MAX_SUPPORT_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
data=$PWD/tests/fixtures/retail/retail.dat
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "runs=$runs cores=$(nproc) pyfim=$("$venv/bin/pip" show pyfim | sed -n 's/^Version: //p') mlxtend=$("$venv/bin/pip" show mlxtend | sed -n 's/^Version: //p')"
for s in 0.001 0.0005 0.0001; do
  echo "== min support $s"
  "$bin" basket --input "$data" --input-format fimi --min-support "$s" --itemsets 2>&1 | sed 's/^/crm-mart: /'
  echo "crm-mart: $(python3 "$OLDPWD/benches/run_timed.py" "$runs" true -- "$bin" -q basket --input "$data" --input-format fimi --min-support "$s" --itemsets)"
  "$venv/bin/python" "$OLDPWD/benches/baselines/basket_fim.py" pyfim "$data" "$s"
  echo "pyfim:    $(python3 "$OLDPWD/benches/run_timed.py" "$runs" true -- "$venv/bin/python" "$OLDPWD/benches/baselines/basket_fim.py" pyfim "$data" "$s")"
  if [ "$s" != 0.0001 ]; then
    "$venv/bin/python" "$OLDPWD/benches/baselines/basket_fim.py" mlxtend "$data" "$s" 2>/dev/null
    echo "mlxtend:  $(python3 "$OLDPWD/benches/run_timed.py" 1 true -- "$venv/bin/python" -W ignore "$OLDPWD/benches/baselines/basket_fim.py" mlxtend "$data" "$s")"
  fi
done
