"""``make run``'s launcher: how many workers it starts, where each serves its metrics, and
the Temporal dev server it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import devstack
from tests.chaos.harness import TemporalServer
from tests.conftest import make_settings
from tests.observability.scraping import scrape


def test_make_run_starts_one_worker_unless_told_otherwise() -> None:
    assert devstack.parse([]).workers == devstack.WORKERS == 1
    assert devstack.parse(["--workers", "3"]).workers == 3


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_worker_count_below_one_or_not_a_number_is_refused(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        devstack.parse(["--workers", workers])

    assert refused.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_each_worker_serves_its_metrics_on_ports_of_its_own(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/store.db")

    ports = [set(devstack.worker_environment(settings, number).values()) for number in range(3)]

    assert ports == [{"9464", "9465"}, {"9466", "9467"}, {"9468", "9469"}]
    assert devstack.metrics_addresses(settings, 2) == (
        "metrics on 127.0.0.1:9464, :9466; Temporal SDK metrics on 127.0.0.1:9465, :9467"
    )


def test_metrics_turned_off_stay_off_for_every_worker(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/store.db", worker_metrics_port=0, temporal_metrics_port=0
    )

    assert devstack.worker_environment(settings, 1) == {
        "WEBHOOKS_WORKER_METRICS_PORT": "0",
        "WEBHOOKS_TEMPORAL_METRICS_PORT": "0",
    }
    assert devstack.metrics_addresses(settings, 2) == "metrics off"


@workflow.defn
class Nothing:
    @workflow.run
    async def run(self) -> None:
        return None


class ServerWithMetrics(TemporalServer):
    """``make run``'s dev server, serving its own metrics, which name the task queue
    partitions it has loaded."""

    def _choose_ports(self) -> None:
        super()._choose_ports()
        self.metrics_port = devstack.free_port()

    def _command(self) -> list[str]:
        return [*super()._command(), "--metrics-port", str(self.metrics_port)]


async def test_the_dev_server_keeps_each_task_queue_in_one_partition(tmp_path: Path) -> None:
    server = ServerWithMetrics(tmp_path)
    await server.start_ready()
    try:
        client = await Client.connect(server.address)
        async with Worker(
            client,
            task_queue="partitioned",
            workflows=[Nothing],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            # Enough starts and polls that four partitions would all have been loaded.
            for number in range(12):
                await client.execute_workflow(
                    Nothing.run, id=f"nothing-{number}", task_queue="partitioned"
                )
        metrics = await scrape(f"http://127.0.0.1:{server.metrics_port}/metrics")
    finally:
        server.kill()

    loaded = {
        dict(labels)["partition"]
        for _, labels in metrics.samples
        if ("taskqueue", "partitioned") in labels and dict(labels).get("partition", "").isdigit()
    }
    assert loaded == {"0"}
