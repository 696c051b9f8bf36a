"""``make run``'s launcher: how many workers it starts and where each serves its metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

import devstack
from tests.conftest import make_settings


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
