"""Temporal's connection settings reach the clients the API and the worker really connect.

Through a TLS front that requires a client certificate, as Temporal Cloud's mTLS does,
and in a namespace of the test's own, an event is emitted through the API and delivered
by a worker, each connected the way the service connects them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, TLSConfig
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core import store
from core.config import Settings
from core.contracts import EventWorkflowResult, event_workflow_id
from core.retry import load_retry_policies
from core.schema import upgrade_schema
from tests.conftest import ADMIN_TOKEN, make_settings
from tests.events import example
from tests.proxies import CLIENT_NAME, SERVER_NAME, Certificates, TLSProxy
from tests.receiver import Receiver
from worker import build_worker, connect_when_reachable, delivery_client


@pytest.fixture
def no_temporal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def namespace(temporal_env: WorkflowEnvironment) -> str:
    """A namespace registered for the test, once the server answers for it."""
    name = f"webhooks-{uuid.uuid4().hex[:12]}"
    await temporal_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = Client(temporal_env.client.service_client, namespace=name)
    for _ in range(100):
        try:
            await client.count_workflows()
            return name
        except RPCError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"namespace {name} never became usable")


@pytest.fixture
async def tls_front(
    temporal_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[tuple[TLSProxy, Certificates]]:
    certificates = Certificates.issue(tmp_path)
    proxy = TLSProxy(temporal_env.client.service_client.config.target_host, certificates)
    await proxy.start()
    yield proxy, certificates
    await proxy.stop()


@pytest.mark.usefixtures("no_temporal_environment")
async def test_api_and_worker_connect_with_mtls_an_api_key_and_the_namespace(
    monkeypatch: pytest.MonkeyPatch,
    temporal_env: WorkflowEnvironment,
    tls_front: tuple[TLSProxy, Certificates],
    namespace: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    proxy, certificates = tls_front
    monkeypatch.setenv("TEMPORAL_ADDRESS", proxy.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", namespace)
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-123")
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", SERVER_NAME)
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(certificates.ca))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certificates.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certificates.client_key))
    # The Webhook* search attributes are registered in the default namespace only.
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}")
    settings = settings.model_copy(update={"search_attributes": False})
    await upgrade_schema(settings.database_url)
    engine = store.create_engine(settings.database_url)
    writer_engine = store.create_sync_engine(settings.database_url)
    app = create_app(settings)

    worker_client = await asyncio.wait_for(connect_when_reachable(settings), timeout=30)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
        delivery_client(settings) as http,
        build_worker(
            worker_client,
            settings=settings,
            sessions=store.session_factory(engine),
            writer_engine=writer_engine,
            http=http,
            policies=load_retry_policies(settings.retry_policies_file),
        ),
    ):
        api_client: Client = app.state.temporal
        for client in (api_client, worker_client):
            connection = client.service_client.config
            assert connection.target_host == proxy.address
            assert connection.api_key == "key-123"
            assert isinstance(connection.tls, TLSConfig)
            assert connection.tls.domain == SERVER_NAME
            assert connection.tls.client_cert == certificates.client_cert.read_bytes()
            assert client.namespace == namespace

        created = await api.post(
            "/v1/accounts",
            json={"name": "Acme School"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        auth = {"Authorization": f"Bearer {created.json()['api_key']}"}
        endpoint = await api.post("/v1/endpoints", json={"url": receiver.url("/a")}, headers=auth)
        assert endpoint.status_code == 201, endpoint.text
        emitted = await api.post(
            "/v1/events",
            json={"type": "peer.joined", "data": example("peer.joined")},
            headers=auth,
        )
        assert emitted.status_code == 202, emitted.text
        event_id = emitted.json()["id"]

        [delivered] = await receiver.wait_for("/a", 1)
        in_namespace = Client(temporal_env.client.service_client, namespace=namespace)
        result = await in_namespace.get_workflow_handle(
            event_workflow_id(event_id), result_type=EventWorkflowResult
        ).result()
    await engine.dispose()
    writer_engine.dispose()

    assert delivered.headers["webhook-id"] == event_id
    assert [outcome.status for outcome in result.outcomes] == ["delivered"]
    # Both clients came through the TLS front, each showing the client certificate.
    assert len(proxy.client_names) >= 2
    assert set(proxy.client_names) == {CLIENT_NAME}


@pytest.mark.usefixtures("no_temporal_environment")
async def test_a_config_file_profile_chosen_by_name_reaches_the_worker_connection(
    monkeypatch: pytest.MonkeyPatch,
    temporal_env: WorkflowEnvironment,
    namespace: str,
    tmp_path: Path,
) -> None:
    address = temporal_env.client.service_client.config.target_host
    config_file = tmp_path / "temporal.toml"
    config_file.write_text(
        f"""
[profile.default]
address = "127.0.0.1:1"

[profile.webhooks]
address = "{address}"
namespace = "{namespace}"
"""
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("WEBHOOKS_TEMPORAL_PROFILE", "webhooks")

    client = await asyncio.wait_for(
        connect_when_reachable(Settings(_env_file=None)),  # type: ignore[call-arg]
        timeout=30,
    )

    assert client.service_client.config.target_host == address
    assert client.namespace == namespace
    started = await client.start_workflow(
        "NoSuchWorkflow", id=f"probe-{uuid.uuid4()}", task_queue=f"probe-{uuid.uuid4()}"
    )
    in_namespace = Client(temporal_env.client.service_client, namespace=namespace)
    description = await in_namespace.get_workflow_handle(started.id).describe()
    assert description.namespace == namespace
    await started.terminate()
