"""How a failed connection is worded in an attempt's error.

Connection refused is produced for real in tests/workflows/test_event_workflow.py; a name
that does not resolve would need a DNS server beyond loopback, so its error is built here
as httpx chains it."""

from __future__ import annotations

import socket

import httpx

from activities.delivery import _describe


def _chained(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as error:
            raise outer from error
    except BaseException as raised:
        return raised


def test_a_host_that_does_not_resolve_is_named_as_such() -> None:
    error = _chained(
        httpx.ConnectError("[Errno -2] Name or service not known"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    )

    assert _describe(error) == (
        "ConnectError: the host name could not be resolved (Name or service not known)"
    )


def test_another_connect_error_keeps_httpx_words() -> None:
    error = _chained(httpx.ConnectError("TLS handshake failed"), OSError("reset"))

    assert _describe(error) == "ConnectError: TLS handshake failed"
