"""Writes a synthetic invoice-line export with a large catalogue, for benches/recommend.sh:
CUSTOMERS customers, PRODUCTS products (popularity Zipf-like, each customer with a few favourite
products bought again and a taste for one of 50 product families), about 20 orders each over two
years. Columns and formats are those of the Online Retail export, so the same mapping loads it.
usage: python3 large_catalogue.py OUT.csv CUSTOMERS PRODUCTS"""
import csv
import datetime as dt
import random
import sys

out, customers, products = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
families = 50
weights = [1.0 / (i + 1) ** 0.8 for i in range(products)]
by_family = [[p for p in range(products) if p % families == f] for f in range(families)]
fam_weights = [[weights[p] for p in ps] for ps in by_family]
start = dt.datetime(2022, 1, 1)
invoice = 100000
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"])
    for c in range(customers):
        fam = rng.randrange(families)
        favourites = rng.choices(by_family[fam], fam_weights[fam], k=5)
        day = rng.uniform(0, 60)
        for _ in range(rng.randint(5, 35)):
            day += rng.expovariate(1 / 30)
            if day > 730:
                break
            invoice += 1
            ts = (start + dt.timedelta(days=day, hours=rng.uniform(8, 18))).strftime("%Y-%m-%d %H:%M:%S")
            items = set(rng.sample(favourites, rng.randint(1, 3)))
            items.update(rng.choices(by_family[fam], fam_weights[fam], k=rng.randint(1, 6)))
            items.update(rng.choices(range(products), weights, k=rng.randint(0, 4)))
            for p in sorted(items):
                w.writerow([invoice, f"P{p:06d}", f"PRODUCT {p}", rng.randint(1, 12), ts, f"{1 + (p % 97) / 10:.2f}", 10000 + c, "United Kingdom"])
