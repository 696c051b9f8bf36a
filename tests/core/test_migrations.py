"""The store's migrations, on SQLite and on PostgreSQL, and the processes that rely on them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from core import store
from core.contracts import DeliveryStatus
from core.delivery_writer import AttemptWrite, DeliveryWriter, HealthChange, StoredAttempt
from core.models import Attempt
from core.schema import (
    STORE_METADATA,
    SchemaError,
    alembic_config,
    head_revision,
    include_store_objects,
    is_known_revision,
    require_current_schema,
    revisions,
    schema_revision,
    upgrade_schema,
)
from tests.conftest import venv_binary
from tests.migrations import downgrade_to, on_store, upgrade_to

PROJECT = Path(__file__).resolve().parents[2]
FIRST_REVISION = "0001"
ACCOUNT_KEY = "tsk_first-schema-key"


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"include_name": include_store_objects})
    return list(compare_metadata(context, STORE_METADATA))


def _store_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) & set(STORE_METADATA.tables)


def _insert_first_schema_rows(connection: Connection) -> None:
    """Rows as the first release wrote them: plain SQL against the first revision's tables."""
    created = "'2026-11-27 09:00:00'"
    statements = [
        f"INSERT INTO account (id, name, created_at) VALUES ('acct_1', 'Acme', {created})",
        "INSERT INTO api_key (id, account_id, key_hash, created_at) "
        f"VALUES ('key_1', 'acct_1', :key_hash, {created})",
        "INSERT INTO endpoint (id, account_id, url, description, event_types, retry_policy, "
        "secret, disabled_at, disabled_reason, created_at, updated_at) VALUES ('ep_1', 'acct_1', "
        "'https://example.com/hook', 'first', '[\"room.created\"]', NULL, 'whsec_first', NULL, "
        f"NULL, {created}, {created})",
        "INSERT INTO event (id, account_id, type, data, idempotency_key, workflow_started, "
        "created_at) VALUES ('msg_1', 'acct_1', 'room.created', '{\"n\": 1}', 'k1', true, "
        f"{created})",
        "INSERT INTO delivery (id, event_id, endpoint_id, account_id, retry_policy, status, "
        "attempts, last_status_code, last_error, last_attempt_at, next_attempt_at, "
        "delivered_at, created_at, updated_at) VALUES ('dlv_1', 'msg_1', 'ep_1', 'acct_1', "
        f"'default', 'delivered', 1, 200, NULL, {created}, NULL, {created}, {created}, "
        f"{created})",
        "INSERT INTO attempt (id, delivery_id, event_id, endpoint_id, account_id, attempt, "
        "outcome, status_code, response_body, error, scheduled_at, started_at, duration_ms) "
        "VALUES ('att_1', 'dlv_1', 'msg_1', 'ep_1', 'acct_1', 1, 'succeeded', 200, 'ok', NULL, "
        f"NULL, {created}, 12.5)",
    ]
    for statement in statements:
        connection.execute(text(statement), {"key_hash": store.hash_api_key(ACCOUNT_KEY)})


def _run(
    *command: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=PROJECT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ---------------------------------------------------------------- the revisions


def _parents(down_revision: str | Sequence[str] | None) -> tuple[str, ...]:
    if down_revision is None:
        return ()
    return (down_revision,) if isinstance(down_revision, str) else tuple(down_revision)


def test_revisions_read_from_the_files_are_alembics() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())

    assert head_revision() == scripts.get_current_head()
    assert revisions() == {
        script.revision: _parents(script.down_revision) for script in scripts.walk_revisions()
    }
    assert is_known_revision(FIRST_REVISION)
    assert not is_known_revision("9999")


async def test_checking_the_schema_leaves_alembic_unimported(store_url: str) -> None:
    check = (
        "import asyncio, sys\n"
        "import worker, api.main\n"
        "from core import store\n"
        "from core.schema import require_current_schema\n"
        "async def check():\n"
        f"    engine = store.create_engine({store_url!r})\n"
        "    await require_current_schema(engine)\n"
        "    await engine.dispose()\n"
        "asyncio.run(check())\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )

    result = await asyncio.to_thread(_run, sys.executable, "-c", check, env={})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_a_store_behind_is_refused_by_the_check(database_url: str) -> None:
    await upgrade_to(database_url, FIRST_REVISION)
    engine = store.create_engine(database_url)
    try:
        with pytest.raises(SchemaError, match=f"revision {FIRST_REVISION}, behind the latest"):
            await require_current_schema(engine)
    finally:
        await engine.dispose()


async def test_upgrade_to_head_builds_exactly_the_models_schema(database_url: str) -> None:
    upgrade = await upgrade_schema(database_url)

    assert (upgrade.before, upgrade.after, upgrade.adopted) == (None, head_revision(), False)
    assert await on_store(database_url, _differences) == []
    assert await schema_revision(database_url) == head_revision()
    # On PostgreSQL, in the schema the URL's search_path names, beside the tables.
    tables = await on_store(database_url, lambda connection: inspect(connection).get_table_names())
    assert "alembic_version" in tables


async def test_upgrade_again_changes_nothing(database_url: str) -> None:
    await upgrade_schema(database_url)

    again = await upgrade_schema(database_url)

    assert (again.before, again.after) == (head_revision(), head_revision())


async def test_rows_of_the_first_schema_survive_the_upgrade_and_serve_the_store(
    database_url: str,
) -> None:
    await upgrade_to(database_url, FIRST_REVISION)
    await on_store(database_url, _insert_first_schema_rows)

    upgrade = await upgrade_schema(database_url)

    assert (upgrade.before, upgrade.after) == (FIRST_REVISION, head_revision())
    added = await on_store(
        database_url,
        lambda connection: connection.execute(
            text("SELECT previous_secret, previous_secret_expires_at, failing_since FROM endpoint")
        ).all(),
    )
    assert [tuple(row) for row in added] == [(None, None, None)]
    # An event stored before its endpoints were recorded as found had them found as it went.
    resolved = await on_store(
        database_url,
        lambda connection: connection.execute(text("SELECT endpoints_resolved FROM event")).all(),
    )
    assert [tuple(row) for row in resolved] == [(True,)]
    sent_to = await on_store(
        database_url, lambda connection: connection.execute(text("SELECT url FROM attempt")).all()
    )
    assert [tuple(row) for row in sent_to] == [(None,)]
    engine = store.create_engine(database_url)
    writer_engine = store.create_sync_engine(database_url)
    sessions = store.session_factory(engine)
    try:
        async with store.transaction(sessions) as session:
            account = (await session.exec(store.account_for_api_key_query(ACCOUNT_KEY))).first()
            assert account is not None and account.id == "acct_1"
            endpoint = await store.get_endpoint(session, account_id="acct_1", endpoint_id="ep_1")
            assert endpoint is not None
            assert endpoint.created_at == datetime(2026, 11, 27, 9, tzinfo=UTC)
            assert endpoint.signing_secrets(datetime.now(UTC)) == ["whsec_first"]
            rotated = await store.rotate_endpoint_secret(
                session, endpoint=endpoint, grace=timedelta(hours=1)
            )
            assert rotated.previous_secret == "whsec_first"
            events, _ = await store.list_events(
                session, account_id="acct_1", where=store.EventFilter(), before=None, limit=10
            )
            assert [(event.id, event.data) for event in events] == [("msg_1", {"n": 1})]
            stats = await store.attempt_stats(
                session, account_id="acct_1", since=datetime(2026, 11, 27, tzinfo=UTC)
            )
            assert stats == {"ep_1": (1, 1)}
        failed = Attempt(
            id="atm_2",
            delivery_id="",
            event_id="msg_1",
            endpoint_id="ep_1",
            account_id="acct_1",
            attempt=0,
            outcome="failed",
            status_code=500,
            started_at=datetime.now(UTC),
            duration_ms=3.0,
        )
        writer = DeliveryWriter(writer_engine, disable_after=timedelta(days=5))
        stored = await writer.write(
            AttemptWrite(attempt=failed, status=DeliveryStatus.DELIVERING, next_attempt_at=None)
        )
        assert stored == StoredAttempt(number=2, change=HealthChange.UNCHANGED)
        async with store.transaction(sessions) as session:
            endpoint = await store.get_endpoint(session, account_id="acct_1", endpoint_id="ep_1")
            assert endpoint is not None and endpoint.failing_since is not None
            assert endpoint.signing_secrets(datetime.now(UTC)) == [rotated.secret, "whsec_first"]
    finally:
        await engine.dispose()
        writer_engine.dispose()


async def test_downgrade_keeps_rows_and_reaches_an_empty_store(database_url: str) -> None:
    await upgrade_to(database_url, FIRST_REVISION)
    await on_store(database_url, _insert_first_schema_rows)
    await upgrade_schema(database_url)

    await downgrade_to(database_url, FIRST_REVISION)

    endpoints = await on_store(
        database_url,
        lambda connection: connection.execute(text("SELECT id, secret FROM endpoint")).all(),
    )
    assert [tuple(row) for row in endpoints] == [("ep_1", "whsec_first")]
    assert await schema_revision(database_url) == FIRST_REVISION

    await downgrade_to(database_url, "base")

    assert await on_store(database_url, _store_tables) == set()
    assert await schema_revision(database_url) is None
    await upgrade_schema(database_url)
    assert await on_store(database_url, _differences) == []


async def test_upgrades_started_together_each_succeed_once(database_url: str) -> None:
    upgrades = await asyncio.gather(*(upgrade_schema(database_url) for _ in range(3)))

    assert sorted(str(upgrade.before) for upgrade in upgrades) == [
        head_revision(),
        head_revision(),
        "None",
    ]
    assert await on_store(database_url, _differences) == []


# ---------------------------------------------------------------- stores made before migrations


async def test_tables_made_from_the_models_are_adopted_as_the_latest_revision(
    database_url: str,
) -> None:
    await on_store(database_url, STORE_METADATA.create_all)

    upgrade = await upgrade_schema(database_url)

    assert (upgrade.before, upgrade.after, upgrade.adopted) == (None, head_revision(), True)
    assert await schema_revision(database_url) == head_revision()


async def test_tables_of_an_older_schema_without_history_are_refused(database_url: str) -> None:
    # What an earlier build's create_all made: the schema of revision 0003, and no history.
    await upgrade_to(database_url, "0003")
    await on_store(
        database_url, lambda connection: connection.execute(text("DROP TABLE alembic_version"))
    )

    with pytest.raises(SchemaError, match=r"differ .*add_column endpoint\.failing_since"):
        await upgrade_schema(database_url)

    assert await schema_revision(database_url) is None


# ---------------------------------------------------------------- the command and the services


def test_db_upgrade_command_migrates_a_fresh_sqlite_file_and_is_idempotent(
    tmp_path: Path,
) -> None:
    database = tmp_path / "fresh" / "webhooks.db"
    env = {"DATABASE_URL": f"sqlite:///{database}"}

    first = _run(venv_binary("webhooks"), "db", "upgrade", env=env)
    second = _run(venv_binary("webhooks"), "db", "upgrade", env=env)
    current = _run(venv_binary("webhooks"), "db", "current", env=env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"Upgraded the store at {database} from an empty database to revision {head_revision()}."
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == (
        f"The store at {database} is up to date: revision {head_revision()}."
    )
    assert f"revision: {head_revision()}" in current.stdout.splitlines()


@pytest.mark.parametrize("revision", [None, "0003"])
async def test_api_refuses_a_store_that_is_not_migrated(
    database_url: str, revision: str | None
) -> None:
    if revision is not None:
        await upgrade_to(database_url, revision)
    uvicorn = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]

    result = await asyncio.to_thread(
        _run, *uvicorn, "--port", "0", env={"DATABASE_URL": database_url}
    )

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    refusals = [line for line in result.stderr.splitlines() if "the API cannot start" in line]
    assert len(refusals) == 1, result.stderr
    assert refusals[0].endswith("run 'webhooks db upgrade'")
    if revision is not None:
        assert f"is at revision {revision}, behind the latest ({head_revision()})" in refusals[0]


async def test_worker_refuses_a_store_that_is_not_migrated(database_url: str) -> None:
    result = await asyncio.to_thread(
        _run, sys.executable, "worker.py", env={"DATABASE_URL": database_url}
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("worker cannot start: the store at ")
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("run 'webhooks db upgrade'")
