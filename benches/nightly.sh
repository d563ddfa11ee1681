#!/usr/bin/env bash
# The whole nightly job end to end on generated data, from an empty mart (so the churn model is
# trained, the slowest path): wall time and peak RSS of the process per run, and each stage's time
# and peak memory from the run log. RUNS runs, each from scratch; the medians are printed. Each
# run is followed by a second night on the same mart: no new source files, and the model is
# recent, so churn only scores.
# usage: [CRM_MART_BIN=FILE] benches/nightly.sh [CUSTOMERS (default 100000)] [RUNS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-100000}
runs=${2:-3}
# CRM_MART_BIN=FILE benchmarks that binary instead of building the release one.
if [ -z "${CRM_MART_BIN:-}" ]; then cargo build --release -q; fi
bin=${CRM_MART_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/crm-mart}
work=$PWD/target/bench-nightly-$customers
src=$work/src
if [ ! -f "$src/planted_defects.csv" ]; then
  "$bin" -q generate --out "$src" --customers "$customers" --months 24 --seed 42 --dirty-rate 0.001
fi
echo "customers=$customers runs=$runs cores=$(nproc) $("$bin" --version)"
for i in $(seq "$runs"); do
  run=$work/run$i
  rm -rf "$run" && mkdir -p "$run"
  cat > "$run/crm-mart.toml" <<TOML
[paths]
source = "$src"
mart = "mart"
[crm]
sinks = ["sqlite:crm.sqlite"]
[nightly]
log = "nightly.jsonl"
TOML
  (cd "$run" && python3 "$OLDPWD/benches/run_timed.py" 1 true -- "$bin" nightly --config "$run/crm-mart.toml")
  echo "second night:"
  (cd "$run" && python3 "$OLDPWD/benches/run_timed.py" 1 true -- "$bin" nightly --config "$run/crm-mart.toml")
done
python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
stages = {}
for i in range(1, runs + 1):
    first_run = None
    for line in open(f"{work}/run{i}/nightly.jsonl"):
        v = json.loads(line)
        assert v["status"] == "ok", v
        first_run = first_run or v["run_id"]
        night = "" if v["run_id"] == first_run else "second night: "
        s = stages.setdefault(night + v["stage"], {"t": [], "m": [], "rows": v.get("rows", {})})
        s["t"].append(v["elapsed_s"])
        if v.get("peak_rss_mb") is not None:
            s["m"].append(v["peak_rss_mb"])
print("| stage | median time | runs | peak memory (max) | rows |")
print("|---|---|---|---|---|")
for name, s in stages.items():
    mem = f"{max(s['m']):.0f} MB" if s["m"] else "–"
    rows = ", ".join(f"{k} {v:,}" for k, v in s["rows"].items())
    print(f"| {name} | {statistics.median(s['t']):.1f} s | {', '.join(f'{t:.1f}' for t in s['t'])} | {mem} | {rows} |")
PY
