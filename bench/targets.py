"""The targets the pipeline is held to, judged on one run's results.

Each verdict is worked out from the figures of the same run, so a report never quotes a
target as met from another day's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TARGET_FANOUT = 3
FLOOR_RATIO = 1.5
PACED_MODE = "paced-25"
E2E_P50_MS = 50.0
E2E_P99_MS = 300.0
EMIT_P99_MS = 50.0
BACKLOG_DELIVERIES = 10_000
WORKER_RSS_MB = 150.0
# Readings a few seconds apart differ by a few hundred KiB from the allocator alone.
FLAT_MIB = 1.0
MIB = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    # None when the run did not measure it as the target asks.
    met: bool | None
    verdict: str


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    workloads = results["workloads"]
    return [
        _floor_ratio(workloads),
        *_paced_latency(workloads),
        _backlog_memory(results.get("backlog")),
    ]


def _workload(workloads: list[dict[str, Any]], system: str, mode: str) -> dict[str, Any] | None:
    return next(
        (
            w
            for w in workloads
            if (w["system"], w["fanout"], w["mode"]) == (system, TARGET_FANOUT, mode)
        ),
        None,
    )


def _floor_ratio(workloads: list[dict[str, Any]]) -> Verdict:
    target = f"K = {TARGET_FANOUT} burst: at least {FLOOR_RATIO} times the Temporal floor"
    pipeline = (_workload(workloads, "pipeline", "burst") or {}).get("deliveries_per_s")
    floor = (_workload(workloads, "floor", "burst") or {}).get("deliveries_per_s")
    if not pipeline or not floor:
        return Verdict(target, "-", None, "not measured: the run has no floor")
    ratio = pipeline / floor
    needed = FLOOR_RATIO * floor
    measured = f"{ratio:.2f} times ({pipeline:,.1f} against {floor:,.1f} deliveries/s)"
    if ratio >= FLOOR_RATIO:
        return Verdict(target, measured, True, "met")
    return Verdict(target, measured, False, f"missed: {needed:,.1f} deliveries/s needed")


def _paced_latency(workloads: list[dict[str, Any]]) -> list[Verdict]:
    paced = _workload(workloads, "pipeline", PACED_MODE) or {}
    where = f"K = {TARGET_FANOUT} paced at 25%"
    return [
        _at_most(f"{where}: end-to-end p50", (paced.get("e2e_ms") or {}).get("p50"), E2E_P50_MS),
        _at_most(f"{where}: end-to-end p99", (paced.get("e2e_ms") or {}).get("p99"), E2E_P99_MS),
        _at_most(f"{where}: emit p99", (paced.get("emit_ms") or {}).get("p99"), EMIT_P99_MS),
    ]


def _at_most(what: str, value: float | None, limit: float) -> Verdict:
    target = f"{what} at most {limit:,.0f} ms"
    if value is None:
        return Verdict(target, "-", None, "not measured")
    measured = f"{value:,.1f} ms"
    if value <= limit:
        return Verdict(target, measured, True, "met")
    return Verdict(target, measured, False, f"missed by {value - limit:,.1f} ms")


def _backlog_memory(backlog: dict[str, Any] | None) -> Verdict:
    target = (
        f"worker RSS under {WORKER_RSS_MB:,.0f} MB and flat, "
        f"{BACKLOG_DELIVERIES:,} deliveries in backoff"
    )
    if not backlog:
        return Verdict(target, "-", None, "not measured")
    before = backlog["rss_mib_before"].get("worker")
    after = backlog["rss_mib_after"].get("worker")
    later = backlog["rss_mib_later"].get("worker")
    if before is None or after is None or later is None:
        return Verdict(target, "-", None, "not measured")
    waiting = backlog["deliveries_waiting"]
    highest = max(after, later)
    measured = (
        f"{before:,.1f} MiB before, {after:,.1f} MiB ({after * MIB / 1e6:,.1f} MB) with "
        f"{waiting:,} waiting, {later:,.1f} MiB {backlog['later_after_s']:.0f} s later"
    )
    if waiting < BACKLOG_DELIVERIES:
        return Verdict(target, measured, None, f"not judged: {waiting:,} deliveries waited")
    problems = []
    if highest * MIB / 1e6 >= WORKER_RSS_MB:
        problems.append(f"over by {highest * MIB / 1e6 - WORKER_RSS_MB:,.1f} MB")
    if later - after > FLAT_MIB:
        problems.append(f"grew {later - after:,.1f} MiB while the deliveries waited")
    if problems:
        return Verdict(target, measured, False, "missed: " + "; ".join(problems))
    return Verdict(target, measured, True, "met")
