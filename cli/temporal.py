"""Registering the service's search attributes on the Temporal namespace it is configured for.

The connection comes from Temporal's own environment variables and config file, read the way
the service reads them (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``,
TLS, ``WEBHOOKS_TEMPORAL_PROFILE``).
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass
from typing import Any

from cli.errors import CliError


@dataclass(frozen=True)
class SetupResult:
    address: str
    namespace: str
    added: list[str]
    known: list[str]


@dataclass(frozen=True)
class _Failure:
    message: str


async def _register(config: dict[str, Any], address: str, namespace: str) -> list[str] | _Failure:
    from temporalio.client import Client
    from temporalio.runtime import Runtime, TelemetryConfig
    from temporalio.service import RPCError

    from core.search_attributes import register_search_attributes

    # A runtime of our own, dropped before the process exits: the shared default one may
    # still be running threads while the interpreter shuts down, which can abort it.
    runtime = Runtime(telemetry=TelemetryConfig())
    try:
        client = await Client.connect(**config, runtime=runtime)
    except RuntimeError as error:
        return _Failure(f"Temporal is not reachable at {address}: {error}")
    try:
        return await register_search_attributes(client)
    except RPCError as error:
        return _Failure(
            f"could not register search attributes on namespace {namespace!r} at {address}: "
            f"{error.status.name.lower()}: {error.message}"
        )


def register_search_attributes() -> SetupResult:
    """Add whichever of the service's search attributes the namespace lacks."""
    from core.config import get_settings
    from core.contracts import SEARCH_ATTRIBUTES

    try:
        config = get_settings().temporal_connect_config()
    except Exception as error:
        raise CliError(f"the Temporal connection settings are invalid: {error}") from None
    address = str(config["target_host"])
    namespace = str(config.get("namespace") or "default")
    outcome = asyncio.run(_register(config, address, namespace))
    gc.collect()
    if isinstance(outcome, _Failure):
        raise CliError(outcome.message)
    return SetupResult(
        address=address,
        namespace=namespace,
        added=outcome,
        known=sorted(key.name for key in SEARCH_ATTRIBUTES),
    )
