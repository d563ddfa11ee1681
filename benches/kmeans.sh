#!/usr/bin/env bash
# k-means: crm-mart's (linfa) against scikit-learn on the same points, same k and initialisations.
# usage: benches/kmeans.sh [N (default 1000000)] [RUNS (default 3)]
#        POINTS=FILE.f64 benches/kmeans.sh 0 [RUNS]   (existing points, e.g. kmeans_features.py's)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${2:-3}
venv=$(realpath "$(../shared/tools/baselines-venv.sh)")
points=${POINTS:-target/kmeans-points.f64}
cargo bench --bench kmeans --no-run -q 2>/dev/null
for i in $(seq "$runs"); do
  "$venv/bin/python" benches/baselines/kmeans_sklearn.py "$points" "$n" 8 8 4 42
  cargo bench -q --bench kmeans -- "$points" 8 8 4 42
done
