"""Churn baseline: LightGBM (and scikit-learn's logistic regression) on the feature table that
`crm-mart features` exports, with the same train/test split; prints test ROC AUC and times.

usage: churn_lightgbm.py FEATURES.csv [RUNS (default 1)]
With RUNS > 1 the LightGBM fit is repeated and the median fit time printed (the AUC is the same
every run: the data and the seed are).
"""
import statistics
import sys
import time

import lightgbm as lgb
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
df = pd.read_csv(sys.argv[1])
features = [c for c in df.columns if c not in ("customer_id", "as_of", "churned", "label_known", "split")]
train, test = df[df.split == "train"], df[df.split == "test"]
xtr, ytr, xte, yte = train[features], train.churned, test[features], test.churned

fits = []
for _ in range(runs):
    t = time.perf_counter()
    model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=42)
    model.fit(xtr, ytr)
    fits.append(time.perf_counter() - t)
t = time.perf_counter()
p = model.predict_proba(xte)[:, 1]
score_s = time.perf_counter() - t
print(f"lightgbm test_auc={roc_auc_score(yte, p):.4f} fit_s={statistics.median(fits):.2f} "
      f"fit_runs_s={','.join(f'{f:.2f}' for f in fits)} score_s={score_s:.2f} "
      f"train={len(train)} test={len(test)} features={len(features)}")

scaler = StandardScaler().fit(xtr)
t = time.perf_counter()
lr = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(xtr), ytr)
fit_s = time.perf_counter() - t
p = lr.predict_proba(scaler.transform(xte))[:, 1]
print(f"sklearn_logistic test_auc={roc_auc_score(yte, p):.4f} fit_s={fit_s:.2f}")
