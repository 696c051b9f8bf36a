"""Stopping the benchmark stops everything it started."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from core.config import PROJECT_ROOT


def _running(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # gone since it was listed
        return ""


def _stack_up(processes: Iterable[psutil.Process]) -> bool:
    """The receiver, Temporal, the worker and the API have all started."""
    lines = [_command_line(process) for process in _running(processes)]
    wanted = ("bench.receiver", "start-dev", "worker.py", "uvicorn")
    return all(any(part in line for line in lines) for part in wanted)


async def test_sigterm_stops_the_stack_the_bench_started(tmp_path: Path) -> None:
    bench = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--pipeline-only",
        "--out",
        str(tmp_path / "results.json"),
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    started: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 90
        while not _stack_up(started.values()) and time.monotonic() < deadline:
            for child in psutil.Process(bench.pid).children(recursive=True):
                started.setdefault(child.pid, child)
            await asyncio.sleep(0.2)
        assert _stack_up(started.values()), [child.cmdline() for child in started.values()]
        bench.send_signal(signal.SIGTERM)
        _, errors = await asyncio.wait_for(bench.communicate(), timeout=60)
        left_running = _running(started.values())
    finally:
        if bench.returncode is None:
            bench.kill()
            await bench.wait()
        for process in _running(started.values()):
            process.kill()
    assert bench.returncode == 1
    assert b"the processes it started were stopped too" in errors
    assert left_running == []
