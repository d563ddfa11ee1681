"""Frequent itemsets on a FIMI file with pyfim (Borgelt's C FP-Growth) or mlxtend's fpgrowth: the
same work as `crm-mart basket --input FILE --input-format fimi --itemsets --min-support S`.

usage: basket_fim.py pyfim|mlxtend FILE MIN_SUPPORT
Prints the number of itemsets and the time of reading and mining.
"""
import math
import sys
import time

tool, path, supp = sys.argv[1], sys.argv[2], float(sys.argv[3])
t0 = time.perf_counter()
with open(path) as f:
    baskets = [sorted(set(line.split())) for line in f]
n = len(baskets)
min_count = math.ceil(supp * n - 1e-9)
t1 = time.perf_counter()
if tool == "pyfim":
    import fim

    sets = fim.fpgrowth(baskets, target="s", supp=-min_count, zmin=1, report="a")
    count = len(sets)
else:
    import pandas as pd
    from mlxtend.frequent_patterns import fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    te = TransactionEncoder()
    onehot = te.fit(baskets).transform(baskets, sparse=True)
    df = pd.DataFrame.sparse.from_spmatrix(onehot, columns=te.columns_)
    sets = fpgrowth(df, min_support=min_count / n, use_colnames=False)
    count = len(sets)
t2 = time.perf_counter()
print(f"{tool} itemsets={count} read_s={t1 - t0:.2f} mine_s={t2 - t1:.2f}")
