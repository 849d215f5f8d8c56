#!/usr/bin/env python3
"""Summarise bench/compare.sh results: the median of each figure per scenario and broker,
and gridmq's ratio to each peer, as a Markdown table.

Usage: table.py OUT_DIR SCENARIO... -- BROKER...
Reads OUT_DIR/{scenario}.{broker}.{run}.json (one gridmq-bench --json line each).
"""

import glob
import json
import os
import statistics
import sys

# (JSON field, label, higher is better, scale)
MESSAGE_FIGURES = [
    ("throughput_msgs_per_s", "throughput msg/s", True, 1),
    ("latency_p50_us", "latency p50 us", False, 1),
    ("latency_p99_us", "latency p99 us", False, 1),
    ("lost", "lost", False, 1),
    ("broker_cpu_pct", "broker cpu %", False, 1),
    ("msgs_per_cpu_s", "msg per broker cpu-s", True, 1),
    ("broker_rss_peak_kib", "broker peak rss MiB", False, 1 / 1024),
]
CONNECTION_FIGURES = [
    ("connected", "connected", True, 1),
    ("connects_per_s", "connects/s", True, 1),
    ("connect_p99_us", "connect p99 us", False, 1),
    ("broker_rss_per_conn_bytes", "broker rss B/conn", False, 1),
]


def load(out, scenario, broker):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, f"{scenario}.{broker}.*.json"))):
        try:
            with open(path) as f:
                line = f.readline().strip()
            if line:
                runs.append(json.loads(line))
        except (OSError, ValueError):
            pass
    for run in runs:
        cpu = run.get("broker_cpu_pct")
        if cpu:
            run["msgs_per_cpu_s"] = run.get("throughput_msgs_per_s", 0) / (cpu / 100)
    return runs


def median(runs, field, scale):
    # A run with no measured message (e.g. a publisher blocked for the whole window) has
    # no latency, not a latency of zero.
    if field.startswith("latency_"):
        runs = [r for r in runs if r.get("latency_samples")]
    values = [r[field] for r in runs if isinstance(r.get(field), (int, float))]
    if not values:
        return None
    return statistics.median(values) * scale


def fmt(value):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 64
    split = argv.index("--")
    out, scenarios, brokers = argv[1], argv[2:split], argv[split + 1 :]
    peers = [b for b in brokers if b != "gridmq"]
    header = ["scenario", "figure"] + brokers + [f"gridmq/{p}" for p in peers]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for scenario in scenarios:
        results = {b: load(out, scenario, b) for b in brokers}
        figures = CONNECTION_FIGURES if scenario.startswith("conn") else MESSAGE_FIGURES
        for field, label, higher_better, scale in figures:
            medians = {b: median(results[b], field, scale) for b in brokers}
            if all(v is None for v in medians.values()):
                continue
            row = [scenario, label + (" (higher better)" if higher_better else "")]
            row += [fmt(medians[b]) for b in brokers]
            for peer in peers:
                g, p = medians.get("gridmq"), medians.get(peer)
                row.append(f"{g / p:.2f}x" if g is not None and p else "–")
            print("| " + " | ".join(row) + " |")
    runs = {b: sum(len(load(out, s, b)) for s in scenarios) for b in brokers}
    print()
    print("Medians over runs; runs with a summary: " + ", ".join(f"{b} {n}" for b, n in runs.items()))
    print("Ratios are gridmq / peer: above 1 is better for 'higher better' figures, below 1 for the rest.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
