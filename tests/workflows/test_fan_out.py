"""Fan-out beyond Temporal's limit of 2,000 pending activities in one workflow."""

from __future__ import annotations

import pytest

from core import store
from core.models import Endpoint
from tests.conftest import Stack
from tests.events import example
from tests.receiver import Receiver

ENDPOINTS = 2_100


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_event_fans_out_to_more_than_2000_endpoints(stack: Stack, receiver: Receiver) -> None:
    auth = await stack.account()
    first = await stack.endpoint(auth, receiver.url("/fan/0"), event_types=["peer.joined"])
    async with store.transaction(stack.sessions) as session:
        endpoint = await session.get(Endpoint, first["id"])
        assert endpoint is not None
        for n in range(1, ENDPOINTS):
            await store.create_endpoint(
                session,
                account_id=endpoint.account_id,
                url=receiver.url(f"/fan/{n}"),
                event_types=["peer.joined"],
                description="",
                retry_policy=None,
            )

    event = await stack.emit(auth, "peer.joined", example("peer.joined"))
    result = await stack.settled(event["id"])

    assert len(result.outcomes) == ENDPOINTS
    assert result.delivered == ENDPOINTS
    paths = {request.path for request in receiver.requests}
    assert paths == {f"/fan/{n}" for n in range(ENDPOINTS)}
    assert len(receiver.requests) == ENDPOINTS
