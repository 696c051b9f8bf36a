"""The results as one PNG: throughput by fan-out per system, and latency distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

SYSTEMS = ("pipeline", "floor", "ceiling")


def write_chart(results: dict[str, Any], path: Path) -> None:
    workloads = results["workloads"]
    fanouts = sorted({w["fanout"] for w in workloads})
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(13, 5))

    width = 0.8 / len(SYSTEMS)
    for index, system in enumerate(SYSTEMS):
        values = [
            next(
                (
                    w["deliveries_per_s"] or 0
                    for w in workloads
                    if (w["system"], w["fanout"], w["mode"]) == (system, fanout, "burst")
                ),
                0,
            )
            for fanout in fanouts
        ]
        positions = [n + (index - 1) * width for n in range(len(fanouts))]
        bars = throughput.bar(positions, values, width, label=system)
        throughput.bar_label(bars, fmt="%.0f", fontsize=8)
    throughput.set_xticks(range(len(fanouts)), [f"K={fanout}" for fanout in fanouts])
    throughput.set_yscale("log")
    throughput.yaxis.set_major_formatter(ScalarFormatter())
    throughput.yaxis.set_minor_formatter(NullFormatter())
    throughput.set_ylabel("deliveries per second (burst, log scale)")
    throughput.set_title("Throughput by fan-out")
    throughput.legend()

    for w in workloads:
        curve = w.get("e2e_curve_ms") or []
        if not curve or w["system"] != "pipeline":
            continue
        latency.plot(curve, range(len(curve)), label=f"K={w['fanout']} {w['mode']}")
    for w in workloads:
        curve = w.get("e2e_curve_ms") or []
        if curve and w["system"] != "pipeline" and w["mode"] == "paced-50":
            latency.plot(
                curve,
                range(len(curve)),
                linestyle="--",
                label=f"{w['system']} K={w['fanout']} {w['mode']}",
            )
    latency.set_xscale("log")
    latency.set_xlabel("end-to-end latency, ms (log scale)")
    latency.set_ylabel("percentile")
    latency.set_title("End-to-end latency distribution (pipeline; dashed: baselines)")
    latency.grid(True, which="both", alpha=0.3)
    latency.legend(fontsize=7)

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
