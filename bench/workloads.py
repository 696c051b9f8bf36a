"""One measured workload: drive a system, wait for its deliveries, compute the figures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bench import driver
from bench.driver import Emission, Send, Sent
from bench.receiver_control import ReceiverControl
from bench.stats import latency_curve_ms, latency_summary_ms, rate

if TYPE_CHECKING:
    # psutil comes with the bench extra; the figures can be computed without it.
    from bench.monitor import Monitor

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 512
# A burst keeps at most this many seconds of deliveries (at the rate measured as it runs)
# accepted but undelivered: the system stays saturated and drains in seconds.
BACKLOG_SECONDS = 3.0
RATE_WINDOW = 2.0
SETTLE_QUIET = 1.0
SETTLE_TIMEOUT = 120.0

Explain = Callable[[list[Emission], dict[str, list[float]]], Awaitable[dict[str, Any]]]
"""What a workload's emissions and receipts show of where the time went."""


class Progress(Protocol):
    poll_interval: float

    async def settle(self) -> None:
        """Wait, boundedly, until deliveries left over from earlier workloads are done."""
        ...

    async def reset(self) -> None: ...

    async def delivered(self) -> int: ...

    async def receipts(self) -> dict[str, list[float]]:
        """Event id, then the arrival time of each of its deliveries (wall clock)."""
        ...


class ReceiverProgress:
    """Deliveries of one workload: unique ``webhook-id``s on its paths at the receiver."""

    poll_interval = 0.2

    def __init__(self, receiver: ReceiverControl, paths: list[str]) -> None:
        self._receiver = receiver
        self._paths = paths

    async def settle(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        previous = -1
        while time.monotonic() < deadline:
            summary = await self._receiver.summary()
            attempts = sum(path["attempts"] for path in summary["paths"].values())
            if attempts == previous:
                return
            previous = attempts
            await asyncio.sleep(SETTLE_QUIET)
        logger.warning("deliveries were still arriving after %.0f s", SETTLE_TIMEOUT)

    async def reset(self) -> None:
        await self._receiver.reset()

    async def delivered(self) -> int:
        return await self._receiver.counts(self._paths)

    async def receipts(self) -> dict[str, list[float]]:
        found = await self._receiver.receipts()
        by_event: dict[str, list[float]] = {}
        for path in self._paths:
            for event_id, at in found.first_receipt.get(path, {}).items():
                by_event.setdefault(event_id, []).append(at)
        return by_event


@dataclass(frozen=True)
class Workload:
    system: str
    """pipeline, ceiling or floor"""
    fanout: int
    mode: str
    """burst, or paced-25 / paced-50: open loop at that share of the burst maximum"""
    duration: float
    concurrency: int
    rate: float | None = None
    """Events a second, for paced modes."""
    backpressure: bool = False
    """Burst only: emitters wait while the undelivered backlog exceeds BACKLOG_SECONDS."""

    @property
    def name(self) -> str:
        return f"{self.system} K={self.fanout} {self.mode}"


async def measure(
    workload: Workload,
    *,
    send: Send,
    progress: Progress,
    monitor: Monitor,
    drain_timeout: float,
    during: Callable[[], Coroutine[Any, Any, None]] | None = None,
    explain: Explain | None = None,
) -> dict[str, Any]:
    """Run the workload and return its figures; ``during`` runs alongside the emits, and
    ``explain`` adds its findings under ``timeline_ms``."""
    await progress.settle()
    await progress.reset()
    accepted = 0
    in_flight = 0
    delivered = 0
    history: deque[tuple[float, int]] = deque()

    async def counted(number: int) -> Sent:
        nonlocal accepted, in_flight
        in_flight += 1
        try:
            sent = await send(number)
        finally:
            in_flight -= 1
        accepted += sent.accepted
        return sent

    async def follow() -> None:
        nonlocal delivered
        while True:
            with contextlib.suppress(Exception):
                delivered = await progress.delivered()
                now = time.monotonic()
                history.append((now, delivered))
                while len(history) > 2 and history[1][0] < now - RATE_WINDOW:
                    history.popleft()
            await asyncio.sleep(progress.poll_interval)

    def may_emit() -> bool:
        rate = 0.0
        if len(history) >= 2 and history[-1][0] > history[0][0]:
            rate = (history[-1][1] - history[0][1]) / (history[-1][0] - history[0][0])
        # Until deliveries flow, a round of emits (or a few large events) keeps it busy.
        limit = max(4 * workload.fanout, workload.concurrency, rate * BACKLOG_SECONDS)
        # Emits still in flight count too, or every emitter would pass at the start.
        return (accepted + in_flight) * workload.fanout - delivered <= limit

    logger.info("%s: running for %.0f s", workload.name, workload.duration)
    async with monitor.window() as window:
        follower = asyncio.create_task(follow())
        side = asyncio.create_task(during()) if during is not None else None
        try:
            if workload.rate is None:
                emissions = await driver.burst(
                    counted,
                    concurrency=workload.concurrency,
                    duration=workload.duration,
                    may_emit=may_emit if workload.backpressure else None,
                )
            else:
                emissions = await driver.paced(
                    counted,
                    rate=workload.rate,
                    duration=workload.duration,
                    max_in_flight=MAX_IN_FLIGHT,
                )
            emitted_at = time.time()
            expected = accepted * workload.fanout
            deadline = time.monotonic() + drain_timeout
            while delivered < expected and time.monotonic() < deadline:
                await asyncio.sleep(progress.poll_interval)
            if side is not None:
                await side
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            if side is not None and not side.done():
                side.cancel()
    receipts = await progress.receipts()
    figures = summarise(
        workload, emissions, receipts, window.cpu_report(), window.peak_rss_mib, emitted_at
    )
    if explain is not None:
        figures["timeline_ms"] = await explain(emissions, receipts)
    return figures


def summarise(
    workload: Workload,
    emissions: list[Emission],
    receipts: dict[str, list[float]],
    cpu: dict[str, dict[str, float]],
    peak_rss_mib: dict[str, float],
    emitted_at: float,
) -> dict[str, Any]:
    accepted = [emission for emission in emissions if emission.accepted]
    started = {emission.event_id: emission.started for emission in accepted}
    latencies = [
        at - started[event_id]
        for event_id, times in receipts.items()
        if event_id in started
        for at in times
    ]
    deliveries = sum(len(times) for event_id, times in receipts.items() if event_id in started)
    first = min((emission.started for emission in emissions), default=0.0)
    last = max((at for times in receipts.values() for at in times), default=0.0)
    core_seconds = sum(role["core_seconds"] for role in cpu.values())
    late = [e.started - e.scheduled for e in emissions if e.scheduled is not None]
    return {
        "system": workload.system,
        "fanout": workload.fanout,
        "mode": workload.mode,
        "duration_s": workload.duration,
        "concurrency": workload.concurrency if workload.rate is None else None,
        "target_events_per_s": round(workload.rate, 2) if workload.rate is not None else None,
        "emitted": len(emissions),
        "accepted": len(accepted),
        "refused": len(emissions) - len(accepted),
        "refused_by": driver.refusals(emissions),
        "emit_s": round(emitted_at - first, 3) if emissions else None,
        "deliveries_expected": len(accepted) * workload.fanout,
        "deliveries": deliveries,
        "deliveries_per_s": _round(rate(deliveries, first, last)),
        "events_per_s": _round(rate(len(accepted), first, last)),
        "elapsed_s": round(last - first, 3) if deliveries else None,
        "e2e_ms": latency_summary_ms(latencies),
        "e2e_curve_ms": latency_curve_ms(latencies),
        "emit_ms": latency_summary_ms([e.finished - e.started for e in accepted]),
        "start_lag_max_ms": round(max(late) * 1000, 1) if late else None,
        "cpu": cpu,
        "cpu_ms_per_delivery": round(1000 * core_seconds / deliveries, 3) if deliveries else None,
        "peak_rss_mib": peak_rss_mib,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
