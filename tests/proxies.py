"""Fronts for a server in the tests: a TCP forwarder that can stop and start again, as a
server that restarts does, and a TLS front, as Temporal Cloud is one for its frontends.

The TLS front speaks ALPN ``h2`` (what gRPC needs), requires a client certificate signed by
its CA (mTLS), and forwards the decrypted bytes to the server behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAME = "temporal.test"
CLIENT_NAME = "webhooks"


@dataclass(frozen=True)
class Certificates:
    """A CA of the test's own, a server certificate for ``SERVER_NAME`` and a client
    certificate for ``CLIENT_NAME``, as PEM files."""

    ca: Path
    server_chain: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def issue(cls, folder: Path) -> Certificates:
        authority = trustme.CA()
        server = authority.issue_cert(SERVER_NAME)
        client = authority.issue_cert(f"{CLIENT_NAME}.test", common_name=CLIENT_NAME)
        certificates = cls(
            ca=folder / "ca.pem",
            server_chain=folder / "server.pem",
            server_key=folder / "server.key",
            client_cert=folder / "client.pem",
            client_key=folder / "client.key",
        )
        authority.cert_pem.write_to_path(str(certificates.ca))
        server.private_key_pem.write_to_path(str(certificates.server_key))
        for n, pem in enumerate(server.cert_chain_pems):
            pem.write_to_path(str(certificates.server_chain), append=n > 0)
        client.private_key_pem.write_to_path(str(certificates.client_key))
        client.cert_chain_pems[0].write_to_path(str(certificates.client_cert))
        return certificates


class TCPProxy:
    """Forwards connections on a local port to ``upstream``; it can stop and start again on
    the same port, as a server that restarts does."""

    def __init__(
        self, upstream: str, *, port: int = 0, context: ssl.SSLContext | None = None
    ) -> None:
        host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (host, int(upstream_port))
        self._port = port
        self._context = context
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.client_names: list[str] = []
        """The common name of the certificate each accepted connection presented."""

    @property
    def address(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._forward, "127.0.0.1", self._port, ssl=self._context
        )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers = []
        if self._server is not None:
            await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        certificate = writer.get_extra_info("peercert") or {}
        subject = dict(field for rdn in certificate.get("subject", ()) for field in rdn)
        self.client_names.append(subject.get("commonName", ""))
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        self._writers += [writer, upstream_writer]
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


class TLSProxy(TCPProxy):
    """Speaks TLS with ALPN ``h2`` and requires a client certificate signed by the CA."""

    def __init__(self, upstream: str, certificates: Certificates) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certificates.ca))
        context.load_cert_chain(certificates.server_chain, certificates.server_key)
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        super().__init__(upstream, context=context)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
