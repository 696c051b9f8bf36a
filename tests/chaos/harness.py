"""Real processes to break: the Temporal dev server, workers, the API, a PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack import (
    api_command,
    free_port,
    migrate_command,
    temporal_binary,
    temporal_command,
    worker_command,
)
from tests.conftest import ADMIN_TOKEN
from tests.events import example
from tests.receiver import Receiver

PROJECT = Path(__file__).resolve().parents[2]
POLICIES = Path(__file__).parent / "retry_policies.toml"


async def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Process:
    """A child process, started and stopped on demand, its output in a log file."""

    name: str
    command: Sequence[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                list(self.command),
                cwd=PROJECT,
                env=os.environ | self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class TemporalServer(Process):
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._choose_ports()
        super().__init__("temporal", self._command(), workdir / "temporal.log")

    def _choose_ports(self) -> None:
        self.port, self.ui_port, self.http_port = free_port(), free_port(), free_port()

    def _command(self) -> list[str]:
        return temporal_command(
            temporal_binary(),
            db_path=self.workdir / "temporal.db",
            port=self.port,
            ui_port=self.ui_port,
            http_port=self.http_port,
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start_ready(self, *, tries: int = 3) -> None:
        """Start and wait until it serves. A port found free can be taken by another
        process before the server binds it; the server then exits at once, and, as nothing
        knows its address yet, starts again on other ports."""
        for _ in range(tries):
            self.start()
            if await self._serves():
                return
            self._choose_ports()
            self.command = self._command()
        raise AssertionError(f"the Temporal dev server exited as it started; see {self.log}")

    async def wait_ready(self) -> None:
        if not await self._serves():
            raise AssertionError(f"the Temporal dev server exited as it started; see {self.log}")

    async def _serves(self) -> bool:
        """Whether the server serves, waiting up to a minute; False as soon as it exits."""

        async def answers_or_exited() -> bool:
            if not self.running:
                return True
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        await wait_until(answers_or_exited, timeout=60, what="the Temporal dev server")
        if not self.running:
            return False
        await asyncio.sleep(1.0)  # gRPC listens a moment before the frontend serves
        return True


class PostgresServer:
    """A PostgreSQL cluster of the test's own, in a temporary folder, on its own port."""

    def __init__(self) -> None:
        self.port = free_port()
        # Its own folder outside pytest's, which is private to root: the server runs as
        # the postgres user when the tests run as root.
        self.home = Path(tempfile.mkdtemp(prefix="webhooks-postgres-"))
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.bin = next(Path("/usr/lib/postgresql").glob("*/bin/initdb")).parent
        if os.geteuid() == 0:
            shutil.chown(self.home, user="postgres", group="postgres")

    def _as_postgres(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@dataclass
class Service:
    """The service as it runs in production: API and workers as processes of their own."""

    workdir: Path
    temporal_address: str
    database_url: str
    task_queue: str = "webhooks-chaos"
    api_port: int = field(default_factory=free_port)
    workers: list[Process] = field(default_factory=list)
    api: Process | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": "default",
            "DATABASE_URL": self.database_url,
            "WEBHOOKS_TASK_QUEUE": self.task_queue,
            "WEBHOOKS_RETRY_POLICIES_FILE": str(POLICIES),
            "WEBHOOKS_ADMIN_TOKEN": ADMIN_TOKEN,
            "WEBHOOKS_DELIVERY_CONNECT_TIMEOUT_SECONDS": "3",
            "WEBHOOKS_DELIVERY_READ_TIMEOUT_SECONDS": "3",
            "WEBHOOKS_TEMPORAL_RPC_TIMEOUT_SECONDS": "3",
            # Within the 20 s that stop() waits for a process before it kills it.
            "WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS": "10",
            "WEBHOOKS_LOG_LEVEL": "WARNING",
            # Several workers run side by side here; none needs its metrics served.
            "WEBHOOKS_WORKER_METRICS_PORT": "0",
            "WEBHOOKS_TEMPORAL_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }

    def migrate(self) -> None:
        """``webhooks db upgrade``, as a deployment runs it before the API and workers."""
        migration = subprocess.run(
            migrate_command(),
            cwd=PROJECT,
            env=os.environ | self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert migration.returncode == 0, migration.stderr

    def start_worker(self, env: Mapping[str, str] | None = None) -> Process:
        """A worker process on the service's settings, ``env`` overriding some of them."""
        worker = Process(
            f"worker-{len(self.workers) + 1}",
            worker_command(),
            self.workdir / f"worker-{len(self.workers) + 1}.log",
            self.env | dict(env or {}),
        )
        worker.start()
        self.workers.append(worker)
        return worker

    async def start_api(self) -> None:
        self.api = Process(
            "api",
            # Without a line per request in its log.
            [*api_command(self.api_port), "--log-level", "warning"],
            self.workdir / "api.log",
            self.env,
        )
        self.api.start()

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{self.url}/health", timeout=1)
                return response.status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(healthy, timeout=60, what="the API")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            process.stop()


@asynccontextmanager
async def api_service(
    workdir: Path, temporal_address: str, database_url: str
) -> AsyncIterator[Service]:
    """The API as a process of its own, on a store migrated as a deployment migrates it;
    workers are started by the test, and everything is stopped at the end."""
    running = Service(workdir, temporal_address, database_url)
    try:
        running.migrate()
        await running.start_api()
        yield running
    finally:
        running.stop()


@dataclass
class Tenant:
    """An account with endpoints on a receiver, and an HTTP client to drive the API."""

    api: httpx.AsyncClient
    auth: dict[str, str]
    paths: list[str]
    run: str = field(default_factory=lambda: f"burst-{time.monotonic_ns()}")

    @classmethod
    async def create(cls, service: Service, receiver: Receiver, endpoints: int) -> Tenant:
        api = httpx.AsyncClient(base_url=service.url, timeout=30)
        created = await api.post(
            "/v1/accounts",
            json={"name": "Chaos"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
        paths = [f"/chaos/{n}" for n in range(endpoints)]
        for path in paths:
            response = await api.post(
                "/v1/endpoints", json={"url": receiver.url(path)}, headers=auth
            )
            assert response.status_code == 201, response.text
        return cls(api=api, auth=auth, paths=paths)

    async def emit(self, count: int, *, concurrency: int = 16) -> Emitted:
        """Emit ``count`` events; each request's final answer is kept, 202 or not."""
        self.run = f"burst-{time.monotonic_ns()}"
        emitted = Emitted()
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            body = {
                "type": "peer.joined",
                "data": example("peer.joined", peer_id=f"p{n}"),
                # As a careful client does: a request cut off in transit is sent again
                # under the same key, so it cannot become two events.
                "idempotency_key": f"{self.run}-{n}",
            }
            async with slots:
                for _ in range(3):
                    try:
                        response = await self.api.post("/v1/events", json=body, headers=self.auth)
                        break
                    except httpx.TransportError as error:
                        emitted.statuses[f"retried after {type(error).__name__}"] += 1
                else:
                    emitted.statuses["gave up"] += 1
                    return
                emitted.statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    emitted.accepted.append(response.json()["id"])

        await asyncio.gather(*(one(n) for n in range(count)))
        return emitted

    async def listed_event_ids(self) -> set[str]:
        found: set[str] = set()
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
            page = (await self.api.get("/v1/events", params=params, headers=self.auth)).json()
            found |= {event["id"] for event in page["data"]}
            cursor = page["next_cursor"]
            if cursor is None:
                return found


@dataclass
class Emitted:
    accepted: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Tally:
    """What the receiver got, against what it should have got."""

    missing: set[tuple[str, str]]
    duplicates: int
    unexpected: set[str]


def tally(receiver: Receiver, accepted: Sequence[str], paths: Sequence[str]) -> Tally:
    expected = {(event_id, path) for event_id in accepted for path in paths}
    got = Counter((request.headers["webhook-id"], request.path) for request in receiver.requests)
    return Tally(
        missing=expected - set(got),
        duplicates=sum(count - 1 for count in got.values()),
        unexpected={event_id for event_id, _ in got} - set(accepted),
    )


async def all_delivered(
    receiver: Receiver, accepted: Sequence[str], paths: Sequence[str], *, timeout: float
) -> Tally:
    async def complete() -> bool:
        return not tally(receiver, accepted, paths).missing

    try:
        await wait_until(complete, timeout=timeout, what="every delivery", interval=0.5)
    except AssertionError:
        pass
    return tally(receiver, accepted, paths)
