"""Every route that takes an id answers 404 for another account's object.

The routes come from the OpenAPI document, so a route added later without the check fails
here until it refuses a foreign id too.
"""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Stack
from tests.events import example
from tests.receiver import Receiver

# Bodies that pass validation, so that only ownership can refuse the request.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/v1/endpoints/{endpoint_id}"): {"description": "taken over"},
    ("POST", "/v1/endpoints/{endpoint_id}/recover"): {"since": "2026-01-01T00:00:00Z"},
}


async def test_every_route_with_an_id_refuses_another_accounts_object(
    stack: Stack, receiver: Receiver
) -> None:
    owner = await stack.account("Owner")
    intruder = await stack.account("Intruder")
    owned_endpoint = await stack.endpoint(owner, receiver.url("/owned"))
    intruder_endpoint = await stack.endpoint(intruder, receiver.url("/intruder"))
    event = await stack.emit(owner, "room.created", example("room.created"))
    await stack.settled(event["id"])
    ids = {"endpoint_id": owned_endpoint["id"], "event_id": event["id"]}
    bodies = VALID_BODIES | {
        ("POST", "/v1/events/{event_id}/resend"): {"endpoint_id": intruder_endpoint["id"]},
    }
    openapi = (await stack.api.get("/openapi.json")).json()

    checked = []
    for template, operations in openapi["paths"].items():
        names = re.findall(r"{(\w+)}", template)
        if not names:
            continue
        assert set(names) <= set(ids), f"no object to try for {template}; add one here"
        path = template.format(**ids)
        for method in operations:
            body = bodies.get((method.upper(), template))
            response = await stack.api.request(method.upper(), path, json=body, headers=intruder)
            assert response.status_code == 404, (method, template, response.text)
            checked.append((method.upper(), template))

    assert len(checked) >= 9
    still = await stack.api.get(f"/v1/endpoints/{owned_endpoint['id']}", headers=owner)
    assert still.status_code == 200 and still.json()["description"] == ""
    assert (await stack.api.get(f"/v1/events/{event['id']}", headers=owner)).status_code == 200
    assert len(receiver.received("/owned")) == 1


async def test_lists_show_only_the_callers_objects(stack: Stack, receiver: Receiver) -> None:
    owner = await stack.account("Owner")
    intruder = await stack.account("Intruder")
    endpoint = await stack.endpoint(owner, receiver.url("/mine"))
    await stack.emit(owner, "room.created", example("room.created"))

    assert (await stack.api.get("/v1/endpoints", headers=intruder)).json()["count"] == 0
    assert (await stack.api.get("/v1/events", headers=intruder)).json()["data"] == []
    by_endpoint = await stack.api.get(
        "/v1/events", params={"endpoint_id": endpoint["id"]}, headers=intruder
    )
    assert by_endpoint.json()["data"] == []
