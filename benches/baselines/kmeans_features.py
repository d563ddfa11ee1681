"""Writes the k-means inputs of 1,000,000-customer features as a raw little-endian f64 file for
`benches/kmeans.sh` (POINTS=FILE): eight behaviour features of `crm-mart segment`, log-scaled where
segment log-scales them, each standardised to mean 0 and standard deviation 1.

usage: kmeans_features.py FEATURES.parquet OUT.f64
"""
import sys

import numpy as np
import pyarrow.parquet as pq

src, out = sys.argv[1], sys.argv[2]
t = pq.read_table(src).to_pandas()
logged = ["frequency", "monetary", "tenure_days", "avg_basket", "mean_interpurchase_days", "orders_90d"]
plain = ["category_breadth", "discount_share"]
cols = [np.log1p(np.maximum(t[c].to_numpy(float), 0)) for c in logged] + [t[c].to_numpy(float) for c in plain]
x = np.column_stack(cols)
x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
x.astype("<f8").tofile(out)
print(f"{out}: {x.shape[0]} x {x.shape[1]}")
