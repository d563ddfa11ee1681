"""Compares two query results written as CSV: the same rows in the same order, numbers equal to
a relative 1e-6 (sums in another order), dates and midnight timestamps equal as dates.

usage: compare_csv.py A.csv B.csv   (exit 0 and "same" when they agree; else the first difference)
"""
import csv
import sys


def norm(v):
    if v == "NULL":
        return ""
    for suffix in ("T00:00:00", " 00:00:00"):
        if v.endswith(suffix):
            return v[: -len(suffix)]
    return v


def same(a, b):
    a, b = norm(a), norm(b)
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a.lower() == b.lower()
    return abs(x - y) <= 1e-6 * max(1.0, abs(x), abs(y))


def main(pa, pb):
    ra = list(csv.reader(open(pa)))[1:]
    rb = list(csv.reader(open(pb)))[1:]
    if len(ra) != len(rb):
        return f"{len(ra)} rows against {len(rb)}"
    for i, (x, y) in enumerate(zip(ra, rb), start=1):
        if len(x) != len(y):
            return f"row {i}: {len(x)} columns against {len(y)}"
        for j, (u, v) in enumerate(zip(x, y), start=1):
            if not same(u, v):
                return f"row {i}, column {j}: {u!r} against {v!r}"
    return None


if __name__ == "__main__":
    diff = main(sys.argv[1], sys.argv[2])
    print("same" if diff is None else diff)
    sys.exit(0 if diff is None else 1)
