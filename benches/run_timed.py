"""Runs a command several times; prints the median wall time and the peak RSS of each run.

usage: run_timed.py RUNS SETUP_CMD -- CMD...   (SETUP_CMD runs before each run, untimed)
Peak RSS comes from wait4() of the child, so it counts the measured process only.
"""
import os
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1])
setup = sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
stdin_path = os.environ.get("STDIN")
walls, rss = [], []
for _ in range(runs):
    subprocess.run(setup, shell=True, check=True)
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    walls.append(time.perf_counter() - t)
    rss.append(usage.ru_maxrss / 1024)
    if status != 0:
        sys.exit(f"command failed: {cmd}")
print(f"median_s={statistics.median(walls):.2f} runs_s={','.join(f'{w:.2f}' for w in walls)} peak_rss_mb={max(rss):.0f}")
