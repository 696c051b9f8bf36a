"""The fault tests' own Temporal dev server comes up even when a port chosen for it is
taken before it binds it."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.chaos.harness import TemporalServer


async def test_a_dev_server_whose_port_was_taken_starts_again_on_free_ports(
    tmp_path: Path,
) -> None:
    server = TemporalServer(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", server.http_port))
        squatter.listen()
        try:
            await server.start_ready()

            assert server.running
            assert server.http_port != squatter.getsockname()[1]
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                pass
        finally:
            server.kill()
