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
    """Judged for each worker process, as a replica's memory is sized; the workers'
    total is shown beside it."""
    target = (
        f"worker RSS under {WORKER_RSS_MB:,.0f} MB and flat, "
        f"{BACKLOG_DELIVERIES:,} deliveries in backoff"
    )
    readings = _worker_readings(backlog)
    if backlog is None or readings is None:
        return Verdict(target, "-", None, "not measured")
    before, after, later = readings
    waiting = backlog["deliveries_waiting"]
    highest = max(after + later)
    measured = (
        f"{_mibs(before)} MiB before, {_mibs(after)} MiB (at most "
        f"{highest * MIB / 1e6:,.1f} MB) with {waiting:,} waiting, {_mibs(later)} MiB "
        f"{backlog['later_after_s']:.0f} s later"
    )
    if len(after) > 1:
        measured = (
            f"each of {len(after)} worker processes: {measured}; "
            f"{backlog['rss_mib_after']['worker']:,.1f} MiB together"
        )
    if waiting < BACKLOG_DELIVERIES:
        return Verdict(target, measured, None, f"not judged: {waiting:,} deliveries waited")
    problems = []
    if highest * MIB / 1e6 >= WORKER_RSS_MB:
        problems.append(f"over by {highest * MIB / 1e6 - WORKER_RSS_MB:,.1f} MB")
    growth = max(then - now for now, then in zip(after, later, strict=True))
    if growth > FLAT_MIB:
        problems.append(f"grew {growth:,.1f} MiB while the deliveries waited")
    if problems:
        return Verdict(target, measured, False, "missed: " + "; ".join(problems))
    return Verdict(target, measured, True, "met")


def _worker_readings(
    backlog: dict[str, Any] | None,
) -> tuple[list[float], list[float], list[float]] | None:
    """Each worker process's RSS before, with the backlog, and later; results from before
    each process was read apart hold one reading for all."""
    if not backlog:
        return None
    each = backlog.get("worker_rss_mib_each")
    if each and all(each.get(moment) for moment in ("before", "after", "later")):
        return each["before"], each["after"], each["later"]
    totals = [backlog[f"rss_mib_{moment}"].get("worker") for moment in ("before", "after", "later")]
    if any(total is None for total in totals):
        return None
    return [totals[0]], [totals[1]], [totals[2]]


def _mibs(values: list[float]) -> str:
    return " and ".join(f"{value:,.1f}" for value in values)
