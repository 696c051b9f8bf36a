"""CPU time and memory of the processes under test, per role, through psutil.

CPU is the delta of ``cpu_times()`` (user + system, the process and its descendants) over a
workload's window, in core-seconds; memory is the peak RSS seen by a sampler that runs
during the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

SAMPLE_INTERVAL = 0.25
MIB = 1024 * 1024
# An idle machine here runs at about 1% of its CPUs.
QUIET_PERCENT = 10.0
QUIET_SAMPLE = 0.5
QUIET_TIMEOUT = 60.0


def _tree(pid: int, *, descendants: bool) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)] if descendants else [root]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _rss_bytes(processes: Sequence[psutil.Process]) -> int:
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return total


@dataclass
class Window:
    """What the roles used between the start and the end of one measured window."""

    cpu_core_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)

    def cpu_report(self) -> dict[str, dict[str, float]]:
        total = sum(self.cpu_core_seconds.values())
        return {
            role: {
                "core_seconds": round(seconds, 3),
                "percent": round(100 * seconds / total, 1) if total else 0.0,
            }
            for role, seconds in self.cpu_core_seconds.items()
        }


class Monitor:
    """Processes by role ("temporal", "worker", "api", "receiver", "driver", ...).

    A role counts its processes' descendants too, except the roles in ``alone``: the
    driver is the bench process, whose children are the other roles.
    """

    def __init__(
        self, roles: Mapping[str, Sequence[int]], *, alone: Sequence[str] = ("driver",)
    ) -> None:
        self._roles = {role: list(pids) for role, pids in roles.items()}
        self._alone = set(alone)

    def _processes(self) -> dict[str, list[psutil.Process]]:
        return {
            role: [
                process
                for pid in pids
                for process in _tree(pid, descendants=role not in self._alone)
            ]
            for role, pids in self._roles.items()
        }

    def rss_mib(self) -> dict[str, float]:
        return {
            role: round(_rss_bytes(processes) / MIB, 1)
            for role, processes in self._processes().items()
        }

    def rss_mib_each(self, role: str) -> list[float]:
        """Each of a role's processes on its own (with its descendants), as started."""
        return [
            round(_rss_bytes(_tree(pid, descendants=role not in self._alone)) / MIB, 1)
            for pid in self._roles.get(role, [])
        ]

    @contextlib.asynccontextmanager
    async def window(self) -> AsyncIterator[Window]:
        processes = self._processes()
        window = Window(peak_rss_mib=dict.fromkeys(processes, 0.0))
        start = {role: _cpu_seconds(members) for role, members in processes.items()}

        async def sample() -> None:
            while True:
                for role, members in processes.items():
                    rss = _rss_bytes(members) / MIB
                    window.peak_rss_mib[role] = max(window.peak_rss_mib[role], round(rss, 1))
                await asyncio.sleep(SAMPLE_INTERVAL)

        sampler = asyncio.create_task(sample())
        try:
            yield window
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            window.cpu_core_seconds = {
                role: _cpu_seconds(members) - start[role] for role, members in processes.items()
            }


async def machine_quiet(
    *,
    percent: float = QUIET_PERCENT,
    sample: float = QUIET_SAMPLE,
    timeout: float = QUIET_TIMEOUT,
) -> dict[str, float]:
    """Wait, boundedly, until the machine's CPUs are busy under ``percent`` for one sample,
    so that what one workload left running (a server catching up, a store's checkpoint)
    does not run into the next one's window. Returns the wait and the last sample."""
    started = time.monotonic()
    psutil.cpu_percent(interval=None)
    while True:
        await asyncio.sleep(sample)
        busy = psutil.cpu_percent(interval=None)
        waited = time.monotonic() - started
        if busy < percent or waited >= timeout:
            return {"waited_s": round(waited, 1), "busy_percent": busy}
