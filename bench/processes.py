"""Starting and stopping the bench's processes: free ports, logs, readiness, shutdown.

The process handling is devstack's (``Child``, ``wait_until_ready``, ``stop_child``), so
the bench starts and stops its children as ``make run`` does; only the ports, the
environment and where the output goes differ.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import httpx
from temporalio.client import Client

import devstack
from core.config import PROJECT_ROOT

HOST = devstack.HOST
READY_TIMEOUT = 60.0
# Nothing sets it: the bench stops its children in its own finally blocks.
_NEVER = asyncio.Event()


async def spawn(
    name: str, command: Sequence[str], *, env: Mapping[str, str], log: Path
) -> devstack.Child:
    with log.open("wb") as output:
        # A session of its own, as devstack does: a Ctrl-C reaches the bench only, which
        # then stops every child in order.
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=PROJECT_ROOT,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    return devstack.Child(name, process)


async def stop(children: Sequence[devstack.Child]) -> None:
    """Stop the children together (SIGTERM, then SIGKILL after devstack's timeout)."""
    await asyncio.gather(*(devstack.stop_child(child) for child in children))


async def wait_until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    watched: Sequence[devstack.Child],
    *,
    log: Path | None = None,
) -> None:
    """devstack's readiness wait: until ``check`` passes, a watched child dies or time is up."""
    await devstack.wait_until_ready(what, check, watched, _NEVER, READY_TIMEOUT, log=log)


async def wait_for_temporal(child: devstack.Child, address: str, log: Path) -> None:
    async def answers() -> bool:
        try:
            await asyncio.wait_for(Client.connect(address), 5)
        except (RuntimeError, TimeoutError):
            return False
        return True

    await wait_until(f"Temporal at {address}", answers, [child], log=log)


async def wait_for_http(
    child: devstack.Child, url: str, log: Path, *, expected_status: int = 200
) -> None:
    async def answers() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                response = await http.get(url)
        except httpx.HTTPError:
            return False
        return response.status_code == expected_status

    await wait_until(url, answers, [child], log=log)


def receiver_command(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.receiver", "--host", HOST, "--port", str(port)]


async def start_receiver(log: Path) -> tuple[devstack.Child, str]:
    """The verifying receiver in a process of its own; returns it and its base URL."""
    port = devstack.free_port()
    env = devstack.child_environment()
    child = await spawn("the receiver", receiver_command(port), env=env, log=log)
    url = f"http://{HOST}:{port}"
    try:
        await wait_for_http(child, f"{url}/_bench/summary", log)
    except BaseException:
        await stop([child])
        raise
    return child, url
