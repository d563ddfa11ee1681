"""k-means benchmark, baseline side: writes N x DIMS points (Gaussian blobs, seeded) to a raw
little-endian f64 file for `benches/kmeans.rs`, then fits scikit-learn's KMeans with the same k and
number of initialisations and prints fit time and inertia.

usage: kmeans_sklearn.py OUT.f64 N DIMS K N_RUNS SEED
With N = 0, OUT.f64 is read instead (points written by kmeans_features.py).
"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

out, n, dims, k, n_runs, seed = sys.argv[1], *map(int, sys.argv[2:7])
if n == 0:
    x = np.fromfile(out, dtype="<f8").reshape(-1, dims)
    n = x.shape[0]
else:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(k, dims))
    labels = rng.integers(0, k, size=n)
    x = centers[labels] + rng.normal(0, 1, size=(n, dims))
    x.astype("<f8").tofile(out)
t = time.perf_counter()
km = KMeans(n_clusters=k, n_init=n_runs, init="k-means++", max_iter=300, tol=1e-4, random_state=seed).fit(x)
print(f"sklearn fit_s={time.perf_counter() - t:.3f} inertia={km.inertia_:.6e} n={n} dims={dims} k={k} n_runs={n_runs}")
