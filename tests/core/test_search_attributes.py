from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from core.contracts import SEARCH_ATTRIBUTES
from core.search_attributes import register_search_attributes
from tests.conftest import venv_binary


async def test_missing_search_attributes_are_registered_once() -> None:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"), ui=False, dev_server_log_level="error"
    ) as bare:
        first = await register_search_attributes(bare.client)
        again = await register_search_attributes(bare.client)

    assert first == sorted(key.name for key in SEARCH_ATTRIBUTES)
    assert again == []


async def test_a_namespace_with_every_attribute_needs_nothing(
    temporal_env: WorkflowEnvironment,
) -> None:
    assert await register_search_attributes(temporal_env.client) == []
