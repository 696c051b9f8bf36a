"""Percentiles, rates and ratios over the raw samples of a workload."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

CURVE_POINTS = 101


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50/p95/p99/max and the mean of latencies given in seconds, in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "count": len(seconds),
        "p50": ms(percentile(seconds, 50)),
        "p95": ms(percentile(seconds, 95)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds)) if seconds else None,
        "mean": ms(sum(seconds) / len(seconds)) if seconds else None,
    }


def latency_curve_ms(seconds: Sequence[float]) -> list[float]:
    """The latency at every whole percentile 0..100, in milliseconds: a compact distribution."""
    if not seconds:
        return []
    ordered = sorted(seconds)
    return [round((percentile(ordered, q) or 0.0) * 1000, 2) for q in range(CURVE_POINTS)]


def rate(count: int, start: float, end: float) -> float | None:
    """Events per second over ``[start, end]``; None when the interval is empty."""
    elapsed = end - start
    if count <= 0 or elapsed <= 0:
        return None
    return count / elapsed


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def burst_ratios(workloads: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per fan-out, the pipeline's burst throughput against the ceiling's and the floor's."""
    burst = {
        (w["system"], w["fanout"]): w["deliveries_per_s"] for w in workloads if w["mode"] == "burst"
    }
    fanouts = sorted({fanout for system, fanout in burst if system == "pipeline"})
    found: dict[str, dict[str, float | None]] = {}
    for fanout in fanouts:
        pipeline = burst.get(("pipeline", fanout))
        found[str(fanout)] = {
            "pipeline_to_ceiling": _rounded(ratio(pipeline, burst.get(("ceiling", fanout)))),
            "pipeline_to_floor": _rounded(ratio(pipeline, burst.get(("floor", fanout)))),
        }
    return found


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
