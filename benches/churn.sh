#!/usr/bin/env bash
# Churn models against LightGBM on the same features and split, in one run: generates and loads a
# mart (or loads the real Online Retail export), exports the features `churn train` fits on
# (`crm-mart features`), then times `crm-mart churn train` (both default families), `churn
# score`, and LightGBM's fit on the exported table; prints every family's test ROC AUC beside
# LightGBM's.
# usage: [CRM_MART_BIN=FILE] benches/churn.sh [CUSTOMERS | online_retail (default 20000)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-20000}
runs=${2:-3}
if [ -z "${CRM_MART_BIN:-}" ]; then cargo build --release -q; fi
bin=${CRM_MART_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart}
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
work=$PWD/target/bench-churn-$what
mkdir -p "$work"
if [ "$what" = online_retail ]; then
  cp ../shared/datasets/online_retail/online_retail.csv.gz "$work/"
  cp benches/online_retail.toml "$work/crm-mart.toml"
else
  if [ ! -f "$work/src/planted_defects.csv" ]; then
    "$bin" -q generate --out "$work/src" --customers "$what" --months 24 --seed 42 --dirty-rate 0.001
  fi
  printf '[paths]\nsource = "src"\nmart = "mart"\n' > "$work/crm-mart.toml"
fi
cd "$work"
if [ ! -d mart/fact_sales ]; then "$bin" -q etl; fi
"$bin" -q features --output features.csv
echo "population=$what runs=$runs cores=$(nproc) $("$bin" --version)"
echo -n "crm-mart churn train: "
python3 ../../benches/run_timed.py "$runs" "rm -rf models" -- "$bin" -q churn train
echo -n "crm-mart churn score: "
python3 ../../benches/run_timed.py "$runs" true -- "$bin" -q churn score
python3 - <<'PY'
import glob, json
m = json.load(open(sorted(glob.glob("models/churn/*.json"))[-1]))
print("crm-mart", " ".join(f"{f}={a:.4f}" for f, a in m["candidates"]),
      f"chosen={m['model']['family']} train={m['train_customers']} test={m['metrics']['test_customers']}")
PY
"$venv/bin/python" ../../benches/baselines/churn_lightgbm.py features.csv "$runs"
