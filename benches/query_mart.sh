# Sourced by the query benchmarks (queries.sh, plain_sql.sh): builds or takes the binary, finds the
# baselines venv, and generates and loads the mart they share. Expects $customers; sets $bin,
# $venv and $work.
# CRM_MART_BIN=FILE times a given binary instead of building this checkout.
if [ -z "${CRM_MART_BIN:-}" ]; then
  cargo build --release -q
fi
bin=${CRM_MART_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart}
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
work=$PWD/target/bench-queries-$customers
if [ ! -f "$work/src/planted_defects.csv" ]; then
  "$bin" -q generate --out "$work/src" --customers "$customers" --months 24 --seed 42 --dirty-rate 0.001
fi
if [ ! -d "$work/mart/fact_sales" ]; then
  "$bin" -q etl --source "$work/src" --mart "$work/mart"
fi
