"""The load driver: bounded concurrent emitters (burst), or open-loop arrivals (paced).

It drives any ``Send``: an emit through the API, the ceiling's direct POSTs, or the floor's
workflow start. Every emission records its wall-clock start and end, so latencies can be
taken against the receiver's wall-clock arrival times.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

PAUSE = 0.05


@dataclass(frozen=True)
class Sent:
    accepted: bool
    event_id: str | None
    status: int | None = None


@dataclass(frozen=True)
class Emission:
    started: float
    finished: float
    accepted: bool
    event_id: str | None
    status: int | None
    scheduled: float | None = None
    """When an open-loop arrival was due; it started later if no slot was free."""
    error: str | None = None
    """The exception's type for an emission that got no answer (a timeout, a reset)."""


def refusals(emissions: list[Emission]) -> dict[str, int]:
    """How many emissions were refused, by the status answered or the exception raised."""
    reasons = Counter(
        str(emission.status) if emission.status is not None else emission.error or "no answer"
        for emission in emissions
        if not emission.accepted
    )
    return dict(sorted(reasons.items()))


Send = Callable[[int], Awaitable[Sent]]
"""Emit the n-th event; exceptions count as refused emissions."""

MayEmit = Callable[[], bool]
"""False while too many accepted events are undelivered: emitters wait."""


async def _timed(send: Send, number: int, scheduled: float | None = None) -> Emission:
    started = time.time()
    error = None
    try:
        sent = await send(number)
    except Exception as raised:
        sent = Sent(accepted=False, event_id=None)
        error = type(raised).__name__
    return Emission(
        started=started,
        finished=time.time(),
        accepted=sent.accepted,
        event_id=sent.event_id,
        status=sent.status,
        scheduled=scheduled,
        error=error,
    )


async def burst(
    send: Send,
    *,
    concurrency: int,
    duration: float,
    may_emit: MayEmit | None = None,
) -> list[Emission]:
    """``concurrency`` emitters, each emitting back to back for ``duration`` seconds.

    With ``may_emit``, emitters pause while it says no: the system then runs saturated at
    the rate it delivers rather than piling up a backlog that takes minutes to drain.
    """
    emissions: list[Emission] = []
    deadline = time.monotonic() + duration
    counter = iter(range(1_000_000_000))

    async def emitter() -> None:
        while time.monotonic() < deadline:
            if may_emit is not None and not may_emit():
                await asyncio.sleep(PAUSE)
                continue
            emissions.append(await _timed(send, next(counter)))

    await asyncio.gather(*(emitter() for _ in range(concurrency)))
    return emissions


async def paced(send: Send, *, rate: float, duration: float, max_in_flight: int) -> list[Emission]:
    """Open-loop arrivals at ``rate`` a second for ``duration`` seconds.

    Arrivals do not wait for earlier answers; at most ``max_in_flight`` are in flight, and
    an arrival that finds none free starts late (its ``scheduled`` time shows how late).
    """
    total = max(1, round(rate * duration))
    slots = asyncio.Semaphore(max_in_flight)
    emissions: list[Emission] = []
    begin = time.time()
    begin_monotonic = time.monotonic()

    async def arrival(number: int, scheduled: float) -> None:
        async with slots:
            emissions.append(await _timed(send, number, scheduled))

    tasks: list[asyncio.Task[None]] = []
    try:
        for number in range(total):
            due = number / rate
            delay = begin_monotonic + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(arrival(number, begin + due)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
    return emissions


async def count(send: Send, *, total: int, concurrency: int) -> list[Emission]:
    """Exactly ``total`` emissions by ``concurrency`` emitters, as fast as they go."""
    emissions: list[Emission] = []
    numbers = iter(range(total))

    async def emitter() -> None:
        for number in numbers:
            emissions.append(await _timed(send, number))

    await asyncio.gather(*(emitter() for _ in range(concurrency)))
    return emissions
