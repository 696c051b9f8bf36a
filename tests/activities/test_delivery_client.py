"""The client every delivery shares, against real servers on 127.0.0.1.

A delivery is aimed at the address its URL's host resolved to, carrying the host name in
its Host header and, over TLS, as the server name to verify (core/destinations.py). These
requests are shaped the same way, with host names a certificate of the test's own covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trustme

import worker
from activities.delivery import _describe
from tests.conftest import make_settings
from tests.receiver import Answer, Receiver
from worker import delivery_client

COVERED = "hooks.school.test"
NOT_COVERED = "other.school.test"
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Server:
    """Answers 200 to every request on a connection, after ``delay`` seconds; counts its
    connections and the most requests it had in hand at once."""

    def __init__(self, context: ssl.SSLContext | None = None, *, delay: float = 0.0) -> None:
        self._context = context
        self._delay = delay
        self._in_hand = 0
        self.most_in_hand = 0
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                self._in_hand += 1
                self.most_in_hand = max(self.most_in_hand, self._in_hand)
                await asyncio.sleep(self._delay)
                self._in_hand -= 1
                writer.write(ANSWER)
                await writer.drain()
        writer.close()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Server]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(authority: trustme.CA) -> AsyncIterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(COVERED).configure_cert(context)
    async with Server(context).serving() as server:
        yield server


def _client(tmp_path: Path, authority: trustme.CA) -> httpx.AsyncClient:
    trusted = ssl.create_default_context()
    authority.configure_trust(trusted)
    return delivery_client(make_settings(f"sqlite:///{tmp_path}/store.db"), verify=trusted)


async def _post_pinned(http: httpx.AsyncClient, port: int, host: str) -> httpx.Response:
    return await http.post(
        f"https://127.0.0.1:{port}/hook",
        content=b"{}",
        headers={"host": host},
        extensions={"sni_hostname": host},
    )


async def test_a_pinned_delivery_verifies_the_certificate_for_its_host_name(
    tls_server: Server, authority: trustme.CA, tmp_path: Path
) -> None:
    async with _client(tmp_path, authority) as http:
        first = await _post_pinned(http, tls_server.port, COVERED)
        again = await _post_pinned(http, tls_server.port, COVERED)

    assert (first.status_code, again.status_code) == (200, 200)
    assert tls_server.connections == 1


async def test_a_connection_verified_for_one_host_name_is_not_reused_for_another(
    tls_server: Server, authority: trustme.CA, tmp_path: Path
) -> None:
    async with _client(tmp_path, authority) as http:
        assert (await _post_pinned(http, tls_server.port, COVERED)).status_code == 200
        with pytest.raises(httpx.HTTPError) as refused:
            await _post_pinned(http, tls_server.port, NOT_COVERED)

    assert "certificate is not valid for 'other.school.test'" in _describe(refused.value)


# A pinned delivery's URL holds an address; an allowlisted host name stays in its URL.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_cookie_set_by_a_receiver_is_never_sent_back(
    receiver: Receiver, tmp_path: Path, host: str
) -> None:
    receiver.default("/hook", Answer(headers={"set-cookie": "session=secret; Path=/"}))
    url = f"http://{host}:{receiver.port}/hook"

    async with delivery_client(make_settings(f"sqlite:///{tmp_path}/store.db")) as http:
        for _ in range(2):
            assert (await http.post(url, content=b"{}")).status_code == 200

    assert [request.headers.get("cookie") for request in receiver.received("/hook")] == [
        None,
        None,
    ]


async def test_deliveries_to_one_address_share_a_bounded_number_of_connections(
    tmp_path: Path,
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/store.db", delivery_max_connections_per_host=3)

    async with Server(delay=0.2).serving() as server, delivery_client(settings) as http:
        answers = await asyncio.gather(
            *(http.post(f"http://127.0.0.1:{server.port}/hook", content=b"{}") for _ in range(12))
        )

    assert [answer.status_code for answer in answers] == [200] * 12
    assert (server.connections, server.most_in_hand) == (3, 3)


async def test_a_connection_idle_past_its_time_is_let_go_rather_than_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "IDLE_CONNECTION_SECONDS", 0.3)
    settings = make_settings(f"sqlite:///{tmp_path}/store.db")

    async with Server().serving() as server, delivery_client(settings) as http:
        url = f"http://127.0.0.1:{server.port}/hook"
        await http.post(url, content=b"{}")
        await http.post(url, content=b"{}")
        reused = server.connections
        await asyncio.sleep(0.6)
        await http.post(url, content=b"{}")

    assert (reused, server.connections) == (1, 2)
