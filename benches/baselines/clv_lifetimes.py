"""Customer value with the Python `lifetimes` package: the same work as `crm-mart value
--holdout-days 0` on the same transaction file.

usage: clv_lifetimes.py FILE CUSTOMER_COL DATE_COL AMOUNT_COL [--no-header] [--sep REGEX]

Reads the file with pandas, builds the per-customer summary by calendar day (x, t_x, T in weeks,
mean repeat value; the as-of date is the last transaction day), fits BetaGeoFitter and
GammaGammaFitter (repeat buyers with a positive mean), and computes P(alive), expected purchases in
90 days and 12 months, expected value and the 12-month CLV with a 1% monthly discount (months of
365.25/12 days) — the outputs of crm-mart. Prints the parameters, log-likelihoods and the time of
each phase. (lifetimes' own summary_data_from_transaction_data is not used: with current pandas it
returns NaN rows.)
"""
import sys
import time

t0 = time.perf_counter()
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

args = sys.argv[1:]
path, ccol, dcol, acol = args[:4]
no_header = "--no-header" in args
sep = args[args.index("--sep") + 1] if "--sep" in args else ","
t_import = time.perf_counter()
if no_header:
    df = pd.read_csv(path, sep=sep, header=None, dtype=str)
    df = df[[int(ccol) - 1, int(dcol) - 1, int(acol) - 1]]
else:
    df = pd.read_csv(path, sep=sep, dtype=str, usecols=[ccol, dcol, acol])
    df = df[[ccol, dcol, acol]]
df.columns = ["c", "d", "a"]
d = df["d"].str.slice(0, 10)
df["d"] = pd.to_datetime(d, format="%Y%m%d" if d.str.len().iloc[0] == 8 else "%Y-%m-%d")
df["a"] = df["a"].astype(float)
t_read = time.perf_counter()

daily = df.groupby(["c", "d"], as_index=False, sort=True)["a"].sum()
end = daily["d"].max()
g = daily.groupby("c", sort=False)
first = g["d"].transform("min")
daily["is_first"] = daily["d"] == first
summary = pd.DataFrame({
    "x": g.size() - 1,
    "t_x": (g["d"].max() - g["d"].min()).dt.days / 7.0,
    "T": (end - g["d"].min()).dt.days / 7.0,
})
rep = daily[~daily["is_first"]].groupby("c")["a"].mean()
summary["m"] = rep.reindex(summary.index).fillna(0.0)
t_summary = time.perf_counter()

bgf = BetaGeoFitter(penalizer_coef=0.0)
bgf.fit(summary["x"], summary["t_x"], summary["T"])
t_bg = time.perf_counter()
r = summary[(summary["x"] > 0) & (summary["m"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.0)
ggf.fit(r["x"], r["m"])
t_gg = time.perf_counter()

x, tx, T, m = summary["x"], summary["t_x"], summary["T"], summary["m"]
p_alive = bgf.conditional_probability_alive(x, tx, T)
e90 = bgf.conditional_expected_number_of_purchases_up_to_time(90 / 7.0, x, tx, T)
ev = ggf.conditional_expected_average_profit(x, m.where(m > 0, 1.0))
ev = ev.where((x > 0) & (m > 0), ggf.params_["p"] * ggf.params_["v"] / (ggf.params_["q"] - 1))
month = 365.25 / 12 / 7.0
clv = np.zeros(len(summary))
prev = np.zeros(len(summary))
for k in range(1, 13):
    cum = np.asarray(bgf.conditional_expected_number_of_purchases_up_to_time(month * k, x, tx, T))
    clv += (cum - prev) * np.asarray(ev) / 1.01 ** k
    prev = cum
t_pred = time.perf_counter()

n = len(summary)
p = bgf.params_
q = ggf.params_
print(f"customers={n} repeat_buyers={len(r)}")
print(f"bgnbd r={p['r']:.4f} alpha={p['alpha']:.4f} a={p['a']:.4f} b={p['b']:.4f}")
print(f"gamma_gamma p={q['p']:.4f} q={q['q']:.4f} v={q['v']:.4f}")
print(f"clv_total={clv.sum():.2f} e90_total={np.asarray(e90).sum():.2f} p_alive_mean={np.asarray(p_alive).mean():.4f}")
print(
    f"import_s={t_import - t0:.2f} read_s={t_read - t_import:.2f} summary_s={t_summary - t_read:.2f} "
    f"bgnbd_fit_s={t_bg - t_summary:.2f} gg_fit_s={t_gg - t_bg:.2f} predict_s={t_pred - t_gg:.2f} "
    f"fit_predict_s={t_pred - t_summary:.2f}"
)
