"""How a failed connection is worded in an attempt's error.

Connection refused, a hang-up, an answer that is not HTTP and a read timeout are produced
for real in tests/workflows/test_event_workflow.py, and a certificate for another name in
tests/activities/test_delivery_client.py; a name that does not resolve would need a DNS
server beyond loopback, so its error is built here as the delivery client chains it."""

from __future__ import annotations

import socket

import httpx

from activities.delivery import _describe


def _chained(*errors: BaseException) -> BaseException:
    """The first error raised from the second, raised from the third, and so on."""
    *outer, innermost = errors
    raised: BaseException = innermost
    for error in reversed(outer):
        error.__cause__ = raised
        raised = error
    return raised


def test_a_host_that_does_not_resolve_is_named_as_such() -> None:
    # aiohttp's error for it reaches httpx as a ConnectTimeout.
    error = _chained(
        httpx.ConnectTimeout("Cannot connect to host hooks.school.test:443"),
        OSError("Cannot connect to host hooks.school.test:443"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    )

    assert _describe(error) == (
        "ConnectError: the host name could not be resolved (Name or service not known)"
    )
