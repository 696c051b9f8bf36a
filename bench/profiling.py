"""py-spy flame graphs of the worker and the API while a workload runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def py_spy_binary() -> str:
    return str(Path(sys.executable).parent / "py-spy")


async def record(pids: dict[str, int], *, seconds: float, out_dir: Path, label: str) -> list[str]:
    """Sample each named process for ``seconds``; returns the SVG files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[Path, asyncio.subprocess.Process] = {}
    for name, pid in pids.items():
        target = out_dir / f"profile-{label}-{name}.svg"
        runs[target] = await asyncio.create_subprocess_exec(
            py_spy_binary(),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            # Not pausing the process keeps the profiled run close to an unprofiled one.
            "--nonblocking",
            "--format",
            "flamegraph",
            "--output",
            str(target),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    written: list[str] = []
    for target, process in runs.items():
        try:
            _, errors = await asyncio.wait_for(process.communicate(), seconds + 60)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            logger.warning("py-spy for %s did not finish; killed", target.name)
            continue
        if process.returncode == 0 and target.exists():
            written.append(str(target))
        else:
            logger.warning("py-spy for %s failed: %s", target.name, errors.decode()[-500:])
    return written
