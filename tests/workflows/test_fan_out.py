"""Fan-out beyond Temporal's limit of 2,000 pending activities in one workflow."""

from __future__ import annotations

import pytest

from core import store
from core.models import Endpoint
from tests.conftest import Stack
from tests.events import example
from tests.receiver import Receiver

ENDPOINTS = 2_100
MAX_REPEATED = ENDPOINTS // 100


# The limit is Temporal's, whatever the store: one run, on the store an account with
# thousands of endpoints would use. Fan-outs within the limit are tested on both.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
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
    # Delivery is at least once: on a loaded machine an attempt can outlast its timeout
    # after its POST arrived, and be made again. That must stay the exception.
    assert len(receiver.requests) - ENDPOINTS <= MAX_REPEATED
    async with store.read_transaction(stack.sessions) as session:
        deliveries = (await store.deliveries_of(session, event_ids=[event["id"]]))[event["id"]]
    assert {d.status for d in deliveries} == {"delivered"} and len(deliveries) == ENDPOINTS
