#!/usr/bin/env python3
"""Cut an `ncu --csv` per-launch log of `statecast bench step --profile-only` into training steps
and summarise one step: launches, summed kernel time, and the kernels that cost most.

The last STEPS steps launch the same kernel sequence (compilation and autotuning happen in the
warm-up), so the step length P is the smallest period with which the tail of the launch
sequence repeats STEPS times.

Usage: scripts/gpu-profile-summary.py NCU_CSV STEPS [TOP]
"""
import csv
import sys
from collections import defaultdict


def launches(path):
    rows = []
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]
    for r in csv.DictReader(lines):
        if r.get("Metric Name") == "gpu__time_duration.sum":
            rows.append((r["Kernel Name"], float(r["Metric Value"].replace(",", ""))))
    return rows


def period(names, steps):
    n = len(names)
    for p in range(1, n // steps + 1):
        tail = names[n - p:]
        if all(names[n - (k + 1) * p:n - k * p] == tail for k in range(1, steps)):
            return p
    return None


def main():
    path, steps = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    rows = launches(path)
    names = [n for n, _ in rows]
    p = period(names, steps)
    if p is None:
        sys.exit(f"no repeating step found in {len(rows)} launches")
    step = rows[len(rows) - p:]
    total_ns = sum(t for _, t in step)
    print(f"{len(rows)} launches profiled; one step = {p} launches, {total_ns / 1e6:.2f} ms of kernel time "
          f"(median launch {sorted(t for _, t in step)[p // 2] / 1e3:.1f} us)")
    by = defaultdict(lambda: [0, 0.0])
    for n, t in step:
        short = n.split("(")[0][:70]
        by[short][0] += 1
        by[short][1] += t
    print("| kernel | launches per step | ms per step | share |")
    print("|---|---|---|---|")
    for n, (c, t) in sorted(by.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"| `{n}` | {c} | {t / 1e6:.3f} | {100 * t / total_ns:.1f} % |")
    small = sum(1 for _, t in step if t < 5_000)
    print(f"launches under 5 us: {small} of {p} ({100 * small / p:.0f} %)")


if __name__ == "__main__":
    main()
