"""The worker's metrics ports: served where configured, off at 0, and a taken port stops
the worker at start with one line saying so."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import make_settings
from worker import serve_metrics, temporal_runtime

PROJECT = Path(__file__).parents[2]


def test_port_zero_serves_no_metrics() -> None:
    settings = make_settings("sqlite://", worker_metrics_port=0, temporal_metrics_port=0)

    assert serve_metrics(settings) is None
    assert temporal_runtime(settings) is None


@pytest.mark.parametrize(
    ("variable", "what"),
    [
        ("WEBHOOKS_WORKER_METRICS_PORT", "metrics"),
        ("WEBHOOKS_TEMPORAL_METRICS_PORT", "Temporal metrics"),
    ],
)
async def test_a_taken_metrics_port_stops_the_worker_with_one_line(
    variable: str, what: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = os.environ | {
            "WEBHOOKS_WORKER_METRICS_PORT": "0",
            "WEBHOOKS_TEMPORAL_METRICS_PORT": "0",
            variable: str(port),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "worker.py",
            cwd=PROJECT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 1
    assert out == b""
    (line,) = err.decode().splitlines()
    assert line.startswith(f"worker cannot start: cannot serve {what} on 127.0.0.1:{port}: ")
    assert "in use" in line
