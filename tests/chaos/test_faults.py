"""Fault tests: real processes are killed and restarted mid-burst, and nothing is lost.

Each counts exactly: every (event, endpoint) pair the API accepted is delivered at least
once, under the event's own webhook-id, and nothing the API refused is delivered.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from core.contracts import event_workflow_id
from devstack import free_port
from tests.chaos.harness import (
    PostgresServer,
    Service,
    Tally,
    TemporalServer,
    Tenant,
    all_delivered,
    api_service,
)
from tests.receiver import Answer, Receiver

pytestmark = pytest.mark.chaos

ENDPOINTS = 3


@pytest.fixture
async def service(tmp_path: Path, temporal: TemporalServer) -> AsyncIterator[Service]:
    """The API and workers as processes, on the default SQLite store, the API started."""
    async with api_service(
        tmp_path, temporal.address, f"sqlite:///{tmp_path / 'webhooks.db'}"
    ) as running:
        yield running


@pytest.fixture
def chaos_receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


def report(
    capsys: pytest.CaptureFixture[str], scenario: str, counts: Tally, **extra: object
) -> None:
    details = " ".join(f"{key}={value}" for key, value in extra.items())
    with capsys.disabled():
        sys.stdout.write(
            f"\n[chaos] {scenario}: missing={len(counts.missing)} "
            f"duplicates={counts.duplicates} {details}\n"
        )


def assert_nothing_lost(counts: Tally) -> None:
    assert not counts.missing, (
        f"{len(counts.missing)} deliveries lost, e.g. {sorted(counts.missing)[:3]}"
    )
    assert not counts.unexpected, f"deliveries of events never accepted: {counts.unexpected}"


async def until_received(receiver: Receiver, count: int) -> None:
    while len(receiver.requests) < count:
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_burst_loses_nothing(
    service: Service,
    chaos_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = service.start_worker()
    tenant = await Tenant.create(service, chaos_receiver, ENDPOINTS)

    burst = asyncio.create_task(tenant.emit(500))
    await until_received(chaos_receiver, 300)
    first.kill()
    service.start_worker()
    emitted = await burst
    counts = await all_delivered(chaos_receiver, emitted.accepted, tenant.paths, timeout=240)

    report(
        capsys,
        "worker SIGKILL",
        counts,
        accepted=len(emitted.accepted),
        statuses=dict(emitted.statuses),
    )
    assert len(emitted.accepted) == 500
    assert_nothing_lost(counts)


async def test_temporal_restarted_mid_burst_loses_nothing_and_refuses_cleanly(
    service: Service,
    temporal: TemporalServer,
    chaos_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service.start_worker()
    tenant = await Tenant.create(service, chaos_receiver, ENDPOINTS)

    before = await tenant.emit(100)
    temporal.stop()
    during = await tenant.emit(20)
    temporal.start()
    await temporal.wait_ready()
    after = await tenant.emit(100)
    accepted = before.accepted + during.accepted + after.accepted
    counts = await all_delivered(chaos_receiver, accepted, tenant.paths, timeout=240)

    report(
        capsys,
        "Temporal restart",
        counts,
        before=dict(before.statuses),
        during=dict(during.statuses),
        after=dict(after.statuses),
    )
    assert len(before.accepted) == len(after.accepted) == 100
    assert during.statuses == {"503": 20}
    assert await tenant.listed_event_ids() == set(accepted)
    assert_nothing_lost(counts)


async def test_receiver_down_for_a_while_gets_everything_after_retries(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    late = Receiver(free_port())
    try:
        service.start_worker()
        tenant = await Tenant.create(service, late, ENDPOINTS)

        emitted = await tenant.emit(100)
        await asyncio.sleep(8)
        assert late.requests == []
        late.start()
        counts = await all_delivered(late, emitted.accepted, tenant.paths, timeout=180)

        report(capsys, "receiver down 8 s", counts, accepted=len(emitted.accepted))
        assert len(emitted.accepted) == 100
        assert_nothing_lost(counts)
    finally:
        late.stop()


async def test_store_restarted_mid_burst_loses_nothing(
    tmp_path: Path,
    temporal: TemporalServer,
    chaos_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    postgres = PostgresServer()
    postgres.init()
    service = Service(tmp_path, temporal.address, postgres.url)
    try:
        service.migrate()
        await service.start_api()
        service.start_worker()
        tenant = await Tenant.create(service, chaos_receiver, ENDPOINTS)

        burst = asyncio.create_task(tenant.emit(300, concurrency=8))
        await until_received(chaos_receiver, 150)
        postgres.stop()
        await asyncio.sleep(3)
        postgres.start()
        emitted = await burst
        counts = await all_delivered(chaos_receiver, emitted.accepted, tenant.paths, timeout=240)

        report(capsys, "PostgreSQL restart", counts, statuses=dict(emitted.statuses))
        assert emitted.statuses["202"] + emitted.statuses["503"] == 300, emitted.statuses
        assert await tenant.listed_event_ids() == set(emitted.accepted)
        assert_nothing_lost(counts)
    finally:
        service.stop()
        postgres.remove()


async def test_one_of_two_workers_killed_the_other_carries_on(
    service: Service,
    chaos_receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doomed = service.start_worker()
    service.start_worker()
    tenant = await Tenant.create(service, chaos_receiver, ENDPOINTS)

    burst = asyncio.create_task(tenant.emit(300))
    await until_received(chaos_receiver, 200)
    doomed.kill()
    emitted = await burst
    counts = await all_delivered(chaos_receiver, emitted.accepted, tenant.paths, timeout=240)

    report(capsys, "one of two workers SIGKILL", counts, accepted=len(emitted.accepted))
    assert len(emitted.accepted) == 300
    assert_nothing_lost(counts)


async def test_worker_stopped_mid_attempt_finishes_it_records_it_once_and_exits_cleanly(
    service: Service, chaos_receiver: Receiver
) -> None:
    stopping = service.start_worker()
    tenant = await Tenant.create(service, chaos_receiver, 1)
    [path] = tenant.paths
    # Slow, yet inside the read timeout: the attempt can only succeed if it is let finish.
    read_timeout = float(service.env["WEBHOOKS_DELIVERY_READ_TIMEOUT_SECONDS"])
    chaos_receiver.default(path, Answer(delay=read_timeout - 1))
    [event_id] = (await tenant.emit(1)).accepted
    await chaos_receiver.wait_for(path, 1)
    assert stopping.process is not None

    # SIGTERM while the receiver is still taking its time over the attempt.
    stopping.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    grace = float(service.env["WEBHOOKS_WORKER_SHUTDOWN_GRACE_SECONDS"])
    exit_code = await asyncio.to_thread(stopping.process.wait, grace)
    stopped_after = time.monotonic() - signalled

    attempts = (
        await tenant.api.get(f"/v1/events/{event_id}/attempts", headers=tenant.auth)
    ).json()["data"]
    deliveries = (await tenant.api.get(f"/v1/events/{event_id}", headers=tenant.auth)).json()[
        "deliveries"
    ]
    # Another worker finishes the workflow; the attempt it was told of is not repeated.
    service.start_worker()
    temporal = await Client.connect(service.temporal_address)
    await temporal.get_workflow_handle(event_workflow_id(event_id)).result()

    assert exit_code == 0, f"exit code {exit_code} after {stopped_after:.1f} s"
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("succeeded", 200)]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("delivered", 1)]
    assert len(chaos_receiver.received(path)) == 1
