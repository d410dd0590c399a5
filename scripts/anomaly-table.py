#!/usr/bin/env python3
"""Macro-average `statecast eval anomaly --json` files into one BENCHMARKS.md §7 table row.

Usage: scripts/anomaly-table.py DATASET MODEL FILE.json...
Columns: honest point P/R/F1, event F1, affiliation F1, point-adjusted F1, ratio-convention point
and point-adjusted F1 (label-informed), AUC-PR, VUS-PR, summed eval seconds.
If any file has a "nab" field (`--nab-windows`), one more line: the corpus NAB scores (standard,
reward_low_FP, reward_low_FN), normalised as NAB does, by summing raw, null and perfect over the
files first.
"""
import json
import sys


def main() -> None:
    ds, model, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    runs = []
    for p in paths:
        try:
            with open(p) as f:
                runs.append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"skipped {p}: {e}", file=sys.stderr)
    if not runs:
        print(f"| {ds} | {model} | no results |")
        return
    fields = [
        ("honest", "point", "precision"),
        ("honest", "point", "recall"),
        ("honest", "point", "f1"),
        ("honest", "event", "f1"),
        ("honest", "affiliation", "f1"),
        ("honest", "point_adjusted", "f1"),
        ("protocol", "point", "f1"),
        ("protocol", "point_adjusted", "f1"),
    ]
    cells = []
    for a, b, c in fields:
        cells.append(sum(r[a][b][c] for r in runs) / len(runs))
    cells.append(sum(r["auc_pr"] for r in runs) / len(runs))
    cells.append(sum(r.get("vus_pr", float("nan")) for r in runs) / len(runs))
    seconds = sum(r.get("seconds", 0.0) for r in runs)
    row = " | ".join(f"{v:.3f}" for v in cells)
    print(f"| {ds} ({len(runs)}) | {model} | {row} | {seconds:.1f} |")
    nab = [r["nab"] for r in runs if r.get("nab")]
    if nab:
        scores = []
        for profile in ("standard", "reward_low_fp_rate", "reward_low_fn_rate"):
            raw, null, perfect = (sum(n[profile][k] for n in nab) for k in ("raw", "null", "perfect"))
            span = perfect - null
            scores.append(100.0 * (raw - null) / span if span != 0 else float("nan"))
        print(
            f"NAB score, {ds} / {model}: standard {scores[0]:.1f}, reward_low_FP {scores[1]:.1f}, "
            f"reward_low_FN {scores[2]:.1f} ({len(nab)} files)"
        )


if __name__ == "__main__":
    main()
