"""The benchmark's Temporal dev server comes up even when a port chosen for it is taken
before it binds it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from temporalio.client import Client

import devstack
from bench import stack
from bench.processes import HOST
from devstack import free_port


async def test_a_dev_server_whose_port_was_taken_starts_again_on_free_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind((HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        # The first port asked for is the one just taken, as if another process had been
        # quicker; every later one is really free.
        chosen = iter([taken])
        monkeypatch.setattr(devstack, "free_port", lambda: next(chosen, None) or free_port())

        temporal = await stack.start_temporal(tmp_path, "temporal")
        try:
            assert temporal.address != f"{HOST}:{taken}"
            client = await Client.connect(temporal.address)
            assert await client.service_client.check_health()
        finally:
            await devstack.stop_child(temporal.child)
