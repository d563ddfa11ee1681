#!/usr/bin/env python3
"""A year of nights: daily source files loaded by 365 nightly runs, with and without `maintain`.

usage: benches/year_of_nights.py [--customers 2000] [--nights 365] [--at 30,90,365]
                                 [--variants maintain,none] [--clock simulated|real]
                                 [--bin target/release/crm-mart] [--work target/bench-year] [--resume]

The generator writes one sales and one contacts file per day (`generate --period day`) for a year
of history and the year after it. Night 0 loads the history year in one batch (so that the churn
model has labels from the first night); nights 1..N each deliver one more day and run
`crm-mart nightly`. Two marts are driven side by side, night by night: one whose nightly ends with
the maintain stage (`[maintain] retain_days = 30`), one without (`[maintain] nightly = false`).
After the nights in --at, for both marts and for a mart built in one batch from the same files
(`nightly` on a fresh mart; then also maintained): Parquet files of the fact tables on disk, mart
bytes, Delta log bytes, and the wall time of three named queries (median of 3 whole `crm-mart
query` commands). The nightly wall time of every night is kept. Results go to WORK/results.json
and a Markdown summary to stdout.

The clock: with `--clock simulated` (the default; needs `faketime`) night k runs k days after
night 0: the process runs under `faketime -f +kd`, and the files it wrote get their modification
times moved k days on, so commit times, the remove actions' deletion times, file ages and the
log's ages all say a day per night, and the 30-day windows of vacuum and log cleanup really pass.
With `--clock real` the nights run minutes apart, no window ever passes, and a copy of the
maintained mart vacuumed with a window of 0 is measured as well ("window passed").
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

QUERIES = ["report_monthly_sales", "report_region_category", "promotion_campaign_roi"]


DAY = 86_400


def shift_mtimes(path, since, until, days):
    """Moves the modification time of every file below `path` modified between `since` and
    `until` (real time) `days` days on: what the process wrote under `faketime -f +{days}d`.
    Files shifted before lie days after `until` and are left alone."""
    if days == 0:
        return
    for root, _, names in os.walk(path):
        for n in names:
            f = os.path.join(root, n)
            st = os.stat(f)
            if since <= st.st_mtime <= until:
                os.utime(f, (st.st_atime, st.st_mtime + days * DAY))


def night(bin, args, cwd, k, clock):
    """Runs crm-mart at night k; returns the wall time."""
    cmd = [bin, "-q", "--config", "crm-mart.toml"] + args
    if clock == "simulated":
        cmd = ["faketime", "-f", f"+{k}d"] + cmd
    # File times come from the kernel's coarse clock (a few ms behind time.time()); the pause
    # keeps the previous command's files out of this one's interval.
    time.sleep(0.1)
    since = time.time() - 0.05
    t = run(cmd, cwd=cwd)
    if clock == "simulated":
        shift_mtimes(cwd, since, time.time() + 0.05, k)
    return t


def run(cmd, cwd=None, quiet=True):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL if quiet else None,
                   stderr=subprocess.DEVNULL if quiet else None)
    return time.perf_counter() - t


def tree(path):
    """(data files of the fact tables, bytes of everything, bytes of the Delta logs)."""
    files = total = log = 0
    for root, _, names in os.walk(path):
        for n in names:
            size = os.path.getsize(os.path.join(root, n))
            total += size
            if "_delta_log" in root:
                log += size
            elif n.endswith(".parquet") and ("fact_sales" in root or "fact_contacts" in root):
                files += 1
    return files, total, log


def config(dir, src, maintain):
    with open(os.path.join(dir, "crm-mart.toml"), "w") as f:
        f.write(f'[paths]\nsource = "{src}"\nmart = "mart"\n[nightly]\nlog = "nightly.jsonl"\n'
                f'[maintain]\nretain_days = 30\nnightly = {"true" if maintain else "false"}\n')


def deliver(all_dir, src, days):
    for entity in ["sales", "contacts"]:
        os.makedirs(os.path.join(src, entity), exist_ok=True)
        for d in days:
            f = os.path.join(all_dir, entity, d + ".csv")
            if os.path.exists(f):
                shutil.copy(f, os.path.join(src, entity, d + ".csv"))
    for f in ["customers.csv", "products.csv", "stores.csv", "campaigns.csv"]:
        if not os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(all_dir, f), os.path.join(src, f))


def query_times(bin, dir, k, clock):
    out = {}
    for q in QUERIES:
        times = [night(bin, ["query", "--name", q, "--format", "csv"], dir, k, clock)
                 for _ in range(3)]
        out[q] = statistics.median(times)
    return out


def table_bytes(path):
    """Bytes on disk per table directory."""
    out = {}
    for t in sorted(os.listdir(path)):
        files, total, _ = tree(os.path.join(path, t))
        out[t] = total
    return out


def measure(bin, dir, k, clock):
    files, total, log = tree(os.path.join(dir, "mart"))
    return {"fact_files": files, "mart_bytes": total, "log_bytes": log,
            "tables": table_bytes(os.path.join(dir, "mart")),
            "queries": query_times(bin, dir, k, clock)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--nights", type=int, default=365)
    ap.add_argument("--at", default="30,90,365")
    ap.add_argument("--bin", default="target/release/crm-mart")
    ap.add_argument("--work", default="target/bench-year")
    ap.add_argument("--variants", default="maintain,none")
    ap.add_argument("--clock", choices=["simulated", "real"], default="simulated")
    ap.add_argument("--resume", action="store_true",
                    help="continue the nights of an earlier run in WORK (results.json and the marts)")
    a = ap.parse_args()
    bin = os.path.abspath(a.bin)
    work = os.path.abspath(a.work)
    at = [int(x) for x in a.at.split(",")]
    all_dir = os.path.join(work, "all")
    if not os.path.exists(os.path.join(all_dir, "planted_defects.csv")):
        run([bin, "-q", "generate", "--out", all_dir, "--customers", str(a.customers),
             "--months", "25", "--seed", "42", "--period", "day"])
    days = sorted(f[:-4] for f in os.listdir(os.path.join(all_dir, "sales")))
    history = days[:365]
    later = days[365:365 + a.nights]
    variants = {n: n == "maintain" for n in a.variants.split(",")}
    if a.clock == "simulated" and shutil.which("faketime") is None:
        sys.exit("--clock simulated needs faketime (apt-get install faketime), or use --clock real")
    dirs = {name: os.path.join(work, name) for name in variants}
    if a.resume:
        results = json.load(open(os.path.join(work, "results.json")))
        # A night that was interrupted and completed by hand has no time (None).
        done = max(len(results["variants"][n]["nightly_s"]) for n in variants)
        delivered = len(os.listdir(os.path.join(dirs[next(iter(variants))], "src", "sales"))) - len(history)
        for n in variants:
            s = results["variants"][n]["nightly_s"]
            s.extend([None] * (delivered - len(s)))
        first = delivered + 1
        print(f"resuming after night {delivered} ({done} timed)", flush=True)
    else:
        first = 1
        results = {"customers": a.customers, "nights": len(later), "history_days": len(history),
                   "clock": a.clock,
                   "version": subprocess.run([bin, "--version"], capture_output=True, text=True).stdout.strip(),
                   "variants": {}}
        for name, maintain in variants.items():
            d = dirs[name]
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            src = os.path.join(d, "src")
            deliver(all_dir, src, history)
            config(d, src, maintain)
            t = night(bin, ["nightly"], d, 0, a.clock)
            results["variants"][name] = {"night0_s": t, "nightly_s": [], "at": {}}
            print(f"{name}: night 0 (history of {len(history)} days) {t:.1f} s", flush=True)
    for k, day in enumerate(later, start=1):
        if k < first:
            continue
        for name in variants:
            d = dirs[name]
            deliver(all_dir, os.path.join(d, "src"), [day])
            t = night(bin, ["nightly"], d, k, a.clock)
            results["variants"][name]["nightly_s"].append(t)
        if k in at:
            for name in variants:
                results["variants"][name]["at"][str(k)] = measure(bin, dirs[name], k, a.clock)
            one = os.path.join(work, f"onebatch-{k}")
            shutil.rmtree(one, ignore_errors=True)
            os.makedirs(one)
            shutil.copytree(os.path.join(dirs[next(iter(variants))], "src"), os.path.join(one, "src"))
            config(one, os.path.join(one, "src"), False)
            t = night(bin, ["nightly"], one, k, a.clock)
            results.setdefault("onebatch", {})[str(k)] = dict(measure(bin, one, k, a.clock), nightly_s=t)
            # The same one-batch mart maintained: the compact layout of the same data.
            night(bin, ["maintain", "--retain-days", "0"], one, k, a.clock)
            results.setdefault("onebatch_maintained", {})[str(k)] = measure(bin, one, k, a.clock)
            shutil.rmtree(one, ignore_errors=True)
            if a.clock == "real" and "maintain" in variants:
                # The nights run minutes apart, so no file is ever older than the 30-day
                # window: a copy of the maintained mart vacuumed with a window of 0 shows it
                # once the window has passed (the steady state less the last 30 nights'
                # superseded files).
                vac = os.path.join(work, f"vacuumed-{k}")
                shutil.rmtree(vac, ignore_errors=True)
                shutil.copytree(dirs["maintain"], vac)
                night(bin, ["maintain", "--retain-days", "0"], vac, k, a.clock)
                results.setdefault("vacuumed", {})[str(k)] = measure(bin, vac, k, a.clock)
                shutil.rmtree(vac, ignore_errors=True)
            print(f"night {k}: measured", flush=True)
        if k % 10 == 0:
            medians = ", ".join(
                f"{name} {statistics.median(t for t in results['variants'][name]['nightly_s'][-10:] if t is not None):.2f} s"
                for name in variants)
            print(f"night {k}: nightly median of the last 10: {medians}", flush=True)
        with open(os.path.join(work, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    summary(results)


def summary(r):
    print(f"\n{r['version']}, {r['customers']} customers, history {r['history_days']} days, "
          f"{r['nights']} nights, {r.get('clock', 'real')} clock\n")
    print("| night | mart | fact data files | mart MB | bytes to one batch | Delta log MB | "
          + " | ".join(QUERIES) + " | query time to one batch (geo. mean) |")
    print("|" + "---|" * (6 + len(QUERIES) + 1))
    for k in sorted(r.get("onebatch", {}), key=int):
        one = r["onebatch"][k]
        rows = [("one batch", one)]
        if k in r.get("onebatch_maintained", {}):
            rows.append(("one batch, maintained", r["onebatch_maintained"][k]))
        rows += [(n, r["variants"][n]["at"][k]) for n in ["maintain", "none"]
                 if n in r["variants"] and k in r["variants"][n]["at"]]
        if k in r.get("vacuumed", {}):
            rows.append(("maintain, window passed", r["vacuumed"][k]))
        for name, m in rows:
            ratio = statistics.geometric_mean(m["queries"][q] / one["queries"][q] for q in QUERIES)
            print(f"| {k} | {name} | {m['fact_files']:,} | {m['mart_bytes'] / 2**20:.1f} | "
                  f"{m['mart_bytes'] / one['mart_bytes']:.2f} | {m['log_bytes'] / 2**20:.2f} | "
                  + " | ".join(f"{m['queries'][q]:.3f} s" for q in QUERIES)
                  + f" | {ratio:.2f} |")
    outputs = {"customer_segments", "churn_scores", "customer_value", "basket_rules", "recommendations"}
    for k, m in sorted(r["variants"].get("maintain", {}).get("at", {}).items(), key=lambda kv: int(kv[0])):
        if "tables" not in m:
            continue
        mb = lambda names: sum(v for t, v in m["tables"].items() if t in names) / 2**20
        facts = {"fact_sales", "fact_contacts"}
        rest = set(m["tables"]) - outputs - facts
        print(f"\nnight {k}, maintained mart by kind: facts {mb(facts):.1f} MB, model outputs "
              f"{mb(outputs):.1f} MB, dimensions and run records {mb(rest):.1f} MB")
    for name in r["variants"]:
        s = [t for t in r["variants"][name]["nightly_s"] if t is not None]
        if len(s) >= 60:
            first, last = statistics.median(s[:30]), statistics.median(s[-30:])
            print(f"\nnightly ({name}): median of nights 1–30 {first:.2f} s, of the last 30 {last:.2f} s "
                  f"(×{last / first:.2f})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--summary":
        summary(json.load(open(sys.argv[2])))
    else:
        main()
