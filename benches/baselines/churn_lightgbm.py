"""Churn baseline: LightGBM (and scikit-learn's logistic regression) on the feature table that
`crm-mart features` exports, with the same train/test split; prints test ROC AUC and times.

usage: churn_lightgbm.py FEATURES.csv
"""
import sys
import time

import lightgbm as lgb
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

df = pd.read_csv(sys.argv[1])
features = [c for c in df.columns if c not in ("customer_id", "as_of", "churned", "label_known", "split")]
train, test = df[df.split == "train"], df[df.split == "test"]
xtr, ytr, xte, yte = train[features], train.churned, test[features], test.churned

t = time.perf_counter()
model = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=42)
model.fit(xtr, ytr)
fit_s = time.perf_counter() - t
t = time.perf_counter()
p = model.predict_proba(xte)[:, 1]
score_s = time.perf_counter() - t
print(f"lightgbm test_auc={roc_auc_score(yte, p):.4f} fit_s={fit_s:.2f} score_s={score_s:.2f} train={len(train)} test={len(test)}")

scaler = StandardScaler().fit(xtr)
t = time.perf_counter()
lr = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(xtr), ytr)
fit_s = time.perf_counter() - t
p = lr.predict_proba(scaler.transform(xte))[:, 1]
print(f"sklearn_logistic test_auc={roc_auc_score(yte, p):.4f} fit_s={fit_s:.2f}")
