"""The benchmark's own arithmetic, its doc generator and its receiver; not the benchmark."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
from sqlalchemy import text

from bench import driver, run
from bench.database import scratch_schema, server_process
from bench.driver import Emission, Sent
from bench.monitor import Monitor, machine_quiet
from bench.processes import start_receiver, stop
from bench.receiver_control import PathSetup, ReceiverControl
from bench.report import render_markdown
from bench.stats import burst_ratios, latency_summary_ms, percentile, ratio
from bench.timeline import SPANS
from bench.workloads import Workload, summarise
from core.signing import generate_secret, signed_headers
from core.store import create_sync_engine

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 100) == 4.0
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary_ms([0.010, 0.020, 0.030])
    assert summary == {"count": 3, "p50": 20.0, "p95": 29.0, "p99": 29.8, "max": 30.0, "mean": 20.0}


def test_ratio_without_a_denominator_is_none() -> None:
    assert ratio(50.0, 200.0) == 0.25
    assert ratio(50.0, None) is None
    assert ratio(50.0, 0.0) is None
    assert ratio(None, 10.0) is None


def _workload(system: str, fanout: int, mode: str, per_second: float) -> dict[str, Any]:
    """A workload of 10 events whose K deliveries each arrive 50 ms after their emit."""
    gap = fanout / per_second
    emissions = [
        Emission(
            started=n * gap, finished=n * gap + 0.005, accepted=True, event_id=f"e{n}", status=202
        )
        for n in range(10)
    ]
    receipts = {e.event_id or "": [e.started + 0.05] * fanout for e in emissions}
    cpu = {
        "worker": {"core_seconds": 1.5, "percent": 75.0},
        "api": {"core_seconds": 0.5, "percent": 25.0},
    }
    return summarise(
        Workload(system, fanout, mode, duration=1.0, concurrency=4),
        emissions,
        receipts,
        cpu,
        {"worker": 120.0, "api": 110.0},
        emitted_at=emissions[-1].finished,
    )


def sample_results() -> dict[str, Any]:
    workloads = [
        _workload("pipeline", 3, "burst", 100.0),
        _workload("ceiling", 3, "burst", 1000.0),
        _workload("floor", 3, "burst", 400.0),
    ]
    return {
        "meta": {
            "started_at": "2026-01-01T00:00:00+00:00",
            "command": "make bench BENCH_ARGS=--quick",
            "note": "a shared machine",
            "machine": {
                "nproc": 2,
                "cpu_model": "Test CPU",
                "memory_gib": 8.0,
                "os": "Linux",
                "load_average_at_start": [0.5, 0.4, 0.3],
            },
            "versions": {"python": "3.11.7", "temporalio": "1.35.0"},
        },
        "workloads": workloads,
        "ratios": burst_ratios(workloads),
        "profiles": [],
    }


def test_summary_counts_deliveries_and_latency_from_emit_start() -> None:
    workload = _workload("pipeline", 3, "burst", 100.0)
    assert workload["deliveries"] == 30
    assert workload["deliveries_expected"] == 30
    assert workload["e2e_ms"]["p50"] == pytest.approx(50.0)
    assert workload["emit_ms"]["p99"] == pytest.approx(5.0)
    # 30 deliveries from the first emit (t=0) to the last receipt (t=0.27 + 0.05).
    assert workload["deliveries_per_s"] == pytest.approx(30 / 0.32, rel=1e-3)


def test_doc_shows_the_workflow_tasks_that_timed_out_in_a_workload() -> None:
    results = sample_results()
    span = {"p50": 10.0, "p95": 20.0, "p99": 30.0}
    results["workloads"][0]["timeline_ms"] = {
        "events": 10,
        "timed_out_tasks": 2,
        "events_with_timed_out_tasks": 2,
        **dict.fromkeys(SPANS, span),
    }

    doc = render_markdown(results)

    timeline_row = "| pipeline | 3 | burst | 10 |"
    row = next(line for line in doc.splitlines() if line.startswith(timeline_row))
    assert row.endswith("| 2 |")
    assert "workflow tasks timed out" in doc


def test_ratios_compare_the_pipeline_burst_with_each_baseline() -> None:
    found = burst_ratios(sample_results()["workloads"])
    pipeline = 30 / 0.32
    assert found["3"]["pipeline_to_ceiling"] == pytest.approx(pipeline / (30 / 0.077), abs=1e-3)
    assert found["3"]["pipeline_to_floor"] == pytest.approx(pipeline / (30 / 0.1175), abs=1e-3)


def test_doc_carries_the_figures_of_the_results() -> None:
    results = sample_results()
    doc = render_markdown(results)
    throughput_row = next(line for line in doc.splitlines() if line.startswith("| 3 |"))
    pipeline = results["workloads"][0]["deliveries_per_s"]
    ceiling = results["workloads"][1]["deliveries_per_s"]
    assert f"{pipeline:,.1f}" in throughput_row
    assert f"{ceiling:,.1f}" in throughput_row
    assert f"{results['ratios']['3']['pipeline_to_ceiling']:,.3f}" in throughput_row
    assert "make bench BENCH_ARGS=--quick" in doc
    assert "**Caveat of this run:** a shared machine" in doc
    assert "2 CPUs (Test CPU), 8.0 GiB" in doc
    assert "1.5 s (75%)" in doc


async def test_refused_emits_are_counted_by_status_or_exception() -> None:
    answers: list[Sent | Exception] = [
        Sent(accepted=True, event_id="e1", status=202),
        Sent(accepted=False, event_id=None, status=503),
        Sent(accepted=False, event_id=None, status=503),
        httpx.ReadTimeout("no answer in time"),
    ]

    async def send(number: int) -> Sent:
        answer = answers[number]
        if isinstance(answer, Exception):
            raise answer
        return answer

    emissions = await driver.count(send, total=len(answers), concurrency=1)

    assert driver.refusals(emissions) == {"503": 2, "ReadTimeout": 1}


def test_doc_says_why_backlog_emits_were_refused() -> None:
    rss = {"temporal": 300.0, "worker": 120.0, "api": 110.0}
    results = sample_results() | {
        "backlog": {
            "policy": "bench-backlog",
            "endpoints": 10,
            "events": 959,
            "refused_by": {"503": 40, "ReadTimeout": 1},
            "deliveries_waiting": 9590,
            "rss_mib_before": rss,
            "rss_mib_after": rss,
            "rss_mib_later": rss,
            "later_after_s": 10.0,
            "idle_cpu": {},
        }
    }

    assert "41 of the emits were refused: 40 503, 1 ReadTimeout." in render_markdown(results)


def test_doc_shows_each_worker_process_under_backlog() -> None:
    results = sample_results() | {
        "backlog": {
            "policy": "bench-backlog",
            "endpoints": 10,
            "events": 1000,
            "deliveries_waiting": 10_000,
            "rss_mib_before": {"worker": 201.0},
            "rss_mib_after": {"worker": 230.0},
            "rss_mib_later": {"worker": 230.5},
            "worker_rss_mib_each": {
                "before": [100.0, 101.0],
                "after": [110.0, 120.0],
                "later": [110.2, 120.3],
            },
            "later_after_s": 10.0,
            "idle_cpu": {"worker": {"core_seconds": 0.04}},
        }
    }

    rendered = render_markdown(results)

    assert "| workers, together | 201.0 | 230.0 | 230.5 | 0.04 |" in rendered
    assert "| worker 1 | 100.0 | 110.0 | 110.2 | - |" in rendered
    assert "| worker 2 | 101.0 | 120.0 | 120.3 | - |" in rendered


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[ReceiverControl]:
    child, url = await start_receiver(tmp_path / "receiver.log")
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield ReceiverControl(http, url)
    finally:
        await stop([child])


async def test_receiver_rejects_bad_signatures_and_counts_unique_ids(
    receiver: ReceiverControl,
) -> None:
    secret = generate_secret()
    await receiver.configure([PathSetup("/k1/0", secret)])
    body = '{"type":"room.created"}'

    async def post(message_id: str, signing_secret: str) -> int:
        headers = signed_headers(
            [signing_secret], message_id=message_id, timestamp=int(time.time()), body=body
        )
        async with httpx.AsyncClient() as http:
            response = await http.post(receiver.url("/k1/0"), content=body, headers=headers)
        return response.status_code

    assert await post("msg_1", secret) == 204
    assert await post("msg_1", secret) == 204
    assert await post("msg_2", secret) == 204
    assert await post("msg_3", generate_secret()) == 401

    summary = await receiver.summary()
    assert summary["rejected"] == 1
    assert summary["paths"]["/k1/0"] == {"unique": 2, "attempts": 3}
    receipts = await receiver.receipts()
    assert set(receipts.first_receipt["/k1/0"]) == {"msg_1", "msg_2"}


async def test_receiver_fails_the_first_attempts_it_is_told_to(
    receiver: ReceiverControl,
) -> None:
    secret = generate_secret()
    await receiver.configure([PathSetup("/retry/0", secret, fail_first=2, record_attempts=True)])
    body = "{}"
    headers = signed_headers([secret], message_id="msg_r", timestamp=int(time.time()), body=body)
    async with httpx.AsyncClient() as http:
        statuses = [
            (await http.post(receiver.url("/retry/0"), content=body, headers=headers)).status_code
            for _ in range(3)
        ]
    assert statuses == [500, 500, 204]
    receipts = await receiver.receipts()
    assert [status for _, _, _, status in receipts.attempts] == [500, 500, 204]
    assert await receiver.counts(["/retry/0"]) == 1


class _InstantSystem:
    """Deliveries that arrive as soon as they are sent, noted in the order they ran."""

    poll_interval = 0.01

    def __init__(self, name: str, ran: list[str]) -> None:
        self.name = name
        self._ran = ran
        self._receipts: dict[str, list[float]] = {}
        self._fanout = 1

    def sender(self, fanout: int, tag: str) -> driver.Send:
        self._ran.append(tag)

        async def send(number: int) -> Sent:
            await asyncio.sleep(0.005)
            event_id = f"{tag}-{number}"
            self._receipts[event_id] = [time.time()] * fanout
            return Sent(accepted=True, event_id=event_id, status=202)

        return send

    def progress(self, fanout: int, tag: str) -> _InstantSystem:
        self._fanout = fanout
        return self

    async def settle(self) -> None:
        return None

    async def reset(self) -> None:
        self._receipts = {}

    async def delivered(self) -> int:
        return sum(len(times) for times in self._receipts.values())

    async def receipts(self) -> dict[str, list[float]]:
        return self._receipts


async def test_each_fanout_runs_every_system_in_turn_at_the_pipelines_rates() -> None:
    ran: list[str] = []
    fakes = [_InstantSystem(name, ran) for name in ("pipeline", "floor", "ceiling")]
    systems = [
        run._System(
            fake.name, sender=fake.sender, progress=fake.progress, paced=fake.name != "ceiling"
        )
        for fake in fakes
    ]
    results: dict[str, Any] = {"workloads": []}
    options = run.Options(fanouts=[1, 3], duration=0.3, workers=1, concurrency=2)

    async def quiet() -> dict[str, float]:
        ran.append("quiet")
        return {"waited_s": 0.0, "busy_percent": 1.0}

    await run._workloads(options, results, systems, Monitor({}), quiet=quiet)

    assert ran[::2] == ["quiet"] * (len(ran) // 2)
    assert ran[1::2] == [
        f"{system}-k{fanout}-{mode}"
        for fanout in (1, 3)
        for mode, systems_in_mode in (
            ("burst", ("pipeline", "floor", "ceiling")),
            ("paced-25", ("pipeline", "floor")),
            ("paced-50", ("pipeline", "floor")),
        )
        for system in systems_in_mode
    ]
    workloads = {(w["system"], w["fanout"], w["mode"]): w for w in results["workloads"]}
    for fanout in (1, 3):
        pipeline_rate = workloads["pipeline", fanout, "burst"]["events_per_s"]
        for system in ("pipeline", "floor"):
            paced = workloads[system, fanout, "paced-25"]
            assert paced["target_events_per_s"] == round(pipeline_rate / 4, 2)
            assert paced["deliveries"] == paced["accepted"] * fanout > 0
            assert paced["machine_before"] == {"waited_s": 0.0, "busy_percent": 1.0}


async def test_a_profile_samples_a_burst_of_its_own_after_the_measured_one() -> None:
    ran: list[str] = []
    fake = _InstantSystem("pipeline", ran)
    profiled_while: list[str] = []

    async def profile(fanout: int) -> None:
        profiled_while.append(f"k{fanout} after {ran[-1]}")

    systems = [run._System("pipeline", fake.sender, fake.progress, profile=profile)]
    results: dict[str, Any] = {"workloads": []}
    options = run.Options(fanouts=[1, 3], duration=0.3, workers=1, concurrency=2)

    async def quiet() -> dict[str, float]:
        return {"waited_s": 0.0, "busy_percent": 1.0}

    await run._workloads(options, results, systems, Monitor({}), quiet=quiet)

    assert ran == [
        "pipeline-k1-burst",
        "pipeline-k1-paced-25",
        "pipeline-k1-paced-50",
        "pipeline-k3-burst",
        "pipeline-k3-burst-profiled",
        "pipeline-k3-paced-25",
        "pipeline-k3-paced-50",
    ]
    assert profiled_while == ["k3 after pipeline-k3-burst-profiled"]
    assert len(results["workloads"]) == 6
    assert results["profiled_burst"]["deliveries"] > 0


async def test_a_machine_never_quiet_enough_is_waited_for_only_until_the_timeout() -> None:
    never = await machine_quiet(percent=0.0, sample=0.05, timeout=0.2)
    assert never["waited_s"] >= 0.2
    at_once = await machine_quiet(percent=101.0, sample=0.05, timeout=10.0)
    assert at_once["waited_s"] < 1.0


def test_a_scratch_schema_holds_the_store_and_is_dropped_after() -> None:
    with scratch_schema(POSTGRES_SERVER) as url:
        assert url.startswith("postgresql+psycopg://")
        engine = create_sync_engine(url)
        try:
            with engine.begin() as connection:
                schema = connection.execute(text("SELECT current_schema()")).scalar_one()
                connection.execute(text("CREATE TABLE bench_probe (id int)"))
        finally:
            engine.dispose()
        assert schema.startswith("webhooks_bench_")
        assert _schema_exists(schema)
    assert not _schema_exists(schema)


def test_a_scratch_schema_needs_postgresql(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="PostgreSQL"),
        scratch_schema(f"sqlite:///{tmp_path}/x.db"),
    ):
        pass


def _schema_exists(name: str) -> bool:
    with psycopg.connect(POSTGRES_SERVER) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,)
        ).fetchone()
    return found is not None


def test_each_process_of_a_role_is_read_apart_and_adds_up_to_the_role() -> None:
    # One process holds 64 MiB more than the other, touched so that it is resident.
    holders = [
        subprocess.Popen(
            [sys.executable, "-c", f"b = bytearray({size}); import time; time.sleep(60)"]
        )
        for size in (0, 64 * 1024 * 1024)
    ]
    try:
        monitor = Monitor({"worker": [holder.pid for holder in holders]})
        deadline = time.monotonic() + 20
        while (each := monitor.rss_mib_each("worker"))[1] - each[0] < 60:
            assert time.monotonic() < deadline, f"never resident: {each}"
            time.sleep(0.1)
        together = monitor.rss_mib()["worker"]
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()

    assert each[0] > 1
    assert 60 < each[1] - each[0] < 70
    assert together == pytest.approx(sum(each), abs=1)


BUSY_CHILD = """
import time
started = time.process_time()
while time.process_time() - started < 0.5:
    pass
time.sleep(60)
"""
# Waits for a file, then starts the busy child, and stays.
SPAWNS_A_BUSY_CHILD = """
import pathlib, subprocess, sys, time
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.02)
subprocess.Popen([sys.executable, "-c", sys.argv[2]])
time.sleep(60)
"""


def _children_cpu(pid: int) -> float:
    children = psutil.Process(pid).children(recursive=True)
    return sum(times.user + times.system for times in (child.cpu_times() for child in children))


async def test_a_role_counts_the_cpu_of_a_descendant_that_starts_within_the_window(
    tmp_path: Path,
) -> None:
    go = tmp_path / "go"
    parent = subprocess.Popen([sys.executable, "-c", SPAWNS_A_BUSY_CHILD, str(go), BUSY_CHILD])
    try:
        monitor = Monitor({"api": [parent.pid]})
        async with monitor.window() as window:
            go.touch()
            deadline = time.monotonic() + 20
            while _children_cpu(parent.pid) < 0.5:
                assert time.monotonic() < deadline, "the child never spent its CPU"
                await asyncio.sleep(0.05)
    finally:
        for process in psutil.Process(parent.pid).children(recursive=True):
            process.kill()
        parent.kill()
        parent.wait()

    assert window.cpu_core_seconds["api"] >= 0.45


async def test_the_database_role_counts_a_backend_opened_within_the_window() -> None:
    server = server_process(POSTGRES_SERVER)
    assert server is not None
    assert psutil.Process(server).name() == "postgres"
    monitor = Monitor({"database": [server]}, cpu_only=["database"])

    async with monitor.window() as window:
        async with await psycopg.AsyncConnection.connect(POSTGRES_SERVER) as connection:
            await connection.execute("SELECT count(*) FROM generate_series(1, 3000000)")

    assert window.cpu_core_seconds["database"] > 0.1
    assert "database" not in window.peak_rss_mib
    assert "database" not in monitor.rss_mib()


def test_a_postgresql_server_elsewhere_has_no_processes_here() -> None:
    assert server_process("postgresql://postgres@db.example.com:5432/test") is None


def test_doc_shows_the_database_cpu_only_for_a_run_that_measured_it() -> None:
    results = sample_results()
    assert "CPU database" not in render_markdown(results)

    pipeline = results["workloads"][0]
    pipeline["cpu"]["database"] = {"core_seconds": 0.4, "percent": 16.7}
    rendered = render_markdown(results)

    assert "| CPU database |" in rendered
    assert "0.4 s (17%)" in rendered
    assert "The store's PostgreSQL server" in rendered


def test_doc_says_the_profiled_burst_counts_in_no_figure() -> None:
    results = sample_results() | {
        "profiles": ["bench/results/profile-k3-burst-api.svg"],
        "profiled_burst": {"deliveries_per_s": 51.25},
    }

    rendered = render_markdown(results)

    assert "It delivered 51.2 deliveries/s while sampled, and counts in no figure" in rendered
    assert "- `bench/results/profile-k3-burst-api.svg`" in rendered
