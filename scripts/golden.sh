#!/usr/bin/env bash
# The outputs of `crm-mart nightly` on the bundled sample data and on a generated dataset with 1 %
# planted defects, as sorted text with run ids and timestamps masked (scripts/golden.py):
#
#   scripts/golden.sh record DIR   # writes DIR/sample and DIR/generated
#   scripts/golden.sh check DIR    # runs again and compares with DIR: exit 0 when byte-identical
#
# A restructuring of the code must leave these outputs unchanged. BIN (default target/debug/crm-mart)
# is the binary; PYTHON one with deltalake and pyarrow.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?record or check}
dir=${2:?directory of the recorded outputs}
bin=$(realpath "${BIN:-target/debug/crm-mart}")
python=${PYTHON:-${CRM_MART_PYTHON:-python3}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_case() {
  local name=$1 src=$2
  local w=$work/$name
  mkdir -p "$w"
  cp -r "$src" "$w/sample-data"
  sed 's/^source = .*/source = "sample-data"/' crm-mart.toml > "$w/crm-mart.toml"
  cp -r queries "$w/queries"
  (cd "$w" && "$bin" --config crm-mart.toml nightly >/dev/null 2>"$w/stderr.log") \
    || { cat "$w/stderr.log" >&2; exit 1; }
  rm -rf "$w/stderr.log"
  "$python" scripts/golden.py "$w" "$work/out/$name" >/dev/null
  # What each command prints (stdout is data), after the nightly run, with the work path masked.
  local k=0
  while IFS= read -r cmd; do
    k=$((k + 1))
    # shellcheck disable=SC2086
    (cd "$w" && "$bin" --config crm-mart.toml $cmd 2>/dev/null) | sed "s#$w#<work>#g" \
      | "$python" -c 'import sys; sys.path.insert(0, "scripts"); import golden; sys.stdout.write(golden.mask(sys.stdin.read()))' \
      > "$work/out/$name/command-$(printf %02d $k).txt"
    echo "\$ crm-mart $cmd" >> "$work/out/$name/commands.txt"
  done <<'CMDS'
nightly --dry-run
segment
churn score
churn train
value
basket
recommend
models list
query --name report_kpis --format csv
query --name product_top_products --format csv
features --format csv
report --out reports-again --format md
CMDS
  cat "$w/reports-again/decision-report.md" | "$python" -c 'import sys; sys.path.insert(0, "scripts"); import golden; sys.stdout.write(golden.mask(sys.stdin.read()))' > "$work/out/$name/report-again.md.txt"
  rm -rf "$w"
}

run_case sample sample-data
"$bin" --quiet generate --out "$work/gen-src" --customers 1500 --months 14 --seed 7 --dirty-rate 0.01
run_case generated "$work/gen-src"

case $mode in
  record) rm -rf "$dir"; mkdir -p "$dir"; cp -r "$work/out/." "$dir/"; echo "recorded $(find "$dir" -type f | wc -l) files in $dir" ;;
  check)
    if diff -r "$dir" "$work/out" > "$work/diff.txt"; then
      echo "identical: $(find "$dir" -type f | wc -l) files"
    else
      head -50 "$work/diff.txt"; echo "outputs differ ($(wc -l < "$work/diff.txt") diff lines)"; exit 1
    fi ;;
  *) echo "usage: $0 record|check DIR" >&2; exit 2 ;;
esac
