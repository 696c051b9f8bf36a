"""CPU time and memory of the processes under test, per role, through psutil.

CPU is the delta of ``cpu_times()`` (user + system, the process and its descendants) over a
workload's window, in core-seconds, counting descendants that start or end within it;
memory is the peak RSS seen by a sampler that runs during the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

SAMPLE_INTERVAL = 0.25
MIB = 1024 * 1024
# An idle machine here runs at about 1% of its CPUs.
QUIET_PERCENT = 10.0
QUIET_SAMPLE = 0.5
QUIET_TIMEOUT = 60.0


def _children_by_parent() -> dict[int, list[int]]:
    """One pass over the machine's processes, for every role's descendants at once."""
    children: dict[int, list[int]] = defaultdict(list)
    for process in psutil.process_iter(["ppid"]):
        children[process.info["ppid"]].append(process.pid)
    return children


def _tree(pid: int, children: Mapping[int, list[int]] | None) -> list[psutil.Process]:
    """``pid`` and, given the machine's ``children``, its descendants."""
    tree = []
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(psutil.NoSuchProcess):
            tree.append(psutil.Process(current))
            if children is not None:
                pending += children.get(current, [])
    return tree


def _cpu_seconds(processes: Sequence[psutil.Process], *, reaped: bool) -> float:
    """The processes' CPU; with ``reaped``, that of the children each has waited for too,
    which no longer have a process to read (a PostgreSQL backend whose connection closed)."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            times = process.cpu_times()
            total += times.user + times.system
            if reaped:
                total += times.children_user + times.children_system
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
    driver is the bench process, whose children are the other roles. The roles in
    ``cpu_only`` are left out of memory: a PostgreSQL server's processes each map its
    shared buffers, which their RSS would count once per process.
    """

    def __init__(
        self,
        roles: Mapping[str, Sequence[int]],
        *,
        alone: Sequence[str] = ("driver",),
        cpu_only: Sequence[str] = (),
    ) -> None:
        self._roles = {role: list(pids) for role, pids in roles.items()}
        self._alone = set(alone)
        self._cpu_only = set(cpu_only)

    def _processes(self) -> dict[str, list[psutil.Process]]:
        children = _children_by_parent()
        return {
            role: [process for pid in pids for process in self._members(role, pid, children)]
            for role, pids in self._roles.items()
        }

    def _members(
        self, role: str, pid: int, children: Mapping[int, list[int]]
    ) -> list[psutil.Process]:
        """The process ``pid`` of ``role``, with its descendants unless the role is alone."""
        return _tree(pid, None if role in self._alone else children)

    def rss_mib(self) -> dict[str, float]:
        return {
            role: round(_rss_bytes(processes) / MIB, 1)
            for role, processes in self._processes().items()
            if role not in self._cpu_only
        }

    def rss_mib_each(self, role: str) -> list[float]:
        """Each of a role's processes on its own (with its descendants), as started."""
        children = _children_by_parent()
        return [
            round(_rss_bytes(self._members(role, pid, children)) / MIB, 1)
            for pid in self._roles.get(role, [])
        ]

    @contextlib.asynccontextmanager
    async def window(self) -> AsyncIterator[Window]:
        processes = self._processes()
        window = Window(
            peak_rss_mib={role: 0.0 for role in processes if role not in self._cpu_only}
        )
        # Processes that start or end within the window count too: a process counts from
        # its CPU at the start, or from zero, and one that ends is counted by the member
        # that waited for it. The sampler keeps to the processes of the start: finding
        # descendants reads every process of the machine, a stall the driver's loop should
        # not take mid-run.
        start = self._cpu_by_role(processes)

        async def sample() -> None:
            while True:
                for role, members in processes.items():
                    if role in window.peak_rss_mib:
                        rss = round(_rss_bytes(members) / MIB, 1)
                        window.peak_rss_mib[role] = max(window.peak_rss_mib[role], rss)
                await asyncio.sleep(SAMPLE_INTERVAL)

        sampler = asyncio.create_task(sample())
        try:
            yield window
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            end = self._cpu_by_role(self._processes())
            window.cpu_core_seconds = {role: end[role] - start[role] for role in start}

    def _cpu_by_role(self, processes: dict[str, list[psutil.Process]]) -> dict[str, float]:
        # The driver's children are the other roles, and their CPU is theirs.
        return {
            role: _cpu_seconds(members, reaped=role not in self._alone)
            for role, members in processes.items()
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
