"""``webhooks temporal setup`` against the test suite's Temporal dev server."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from devstack import free_port
from tests.cli.conftest import Operator, failed_cleanly, succeeded


async def test_temporal_setup_finds_nothing_missing_on_the_test_server(
    temporal_env: WorkflowEnvironment,
) -> None:
    operator = Operator(api_url="http://127.0.0.1:1", api_key="unused", temporal=temporal_env)

    result = await operator.run(
        "temporal",
        "setup",
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=None,
    )

    assert succeeded(result).stdout.startswith("Nothing missing: namespace 'default' at ")
    assert "WebhookStatus" in result.stdout


async def test_temporal_setup_reports_an_unreachable_server(
    temporal_env: WorkflowEnvironment,
) -> None:
    address = f"127.0.0.1:{free_port()}"
    operator = Operator(api_url="http://127.0.0.1:1", api_key="unused", temporal=temporal_env)

    result = await operator.run("temporal", "setup", TEMPORAL_ADDRESS=address)

    assert failed_cleanly(result).startswith(f"error: Temporal is not reachable at {address}")
