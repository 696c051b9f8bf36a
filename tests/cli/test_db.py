"""``webhooks db``: the store's schema from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from cli.main import app
from core.schema import STORE_METADATA, head_revision, schema_revision
from tests.migrations import on_store, upgrade_to


async def webhooks(*args: str, database_url: str) -> Result:
    """``webhooks ARGS`` against the store at ``database_url``, in a thread of its own since
    the command runs its own event loop."""
    environment = {"DATABASE_URL": database_url, "COLUMNS": None, "NO_COLOR": "1"}
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=environment)


def error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "error: DATABASE_URL is not a database URL; expected e.g. postgresql://"),
        ("mysql://root@127.0.0.1/webhooks", "error: DATABASE_URL names a database this service"),
        (
            "postgresql://ops:hunter2@127.0.0.1:1/webhooks",
            "error: cannot use the store at postgresql://ops:***@127.0.0.1:1/webhooks: ",
        ),
    ],
)
async def test_db_upgrade_explains_an_unusable_store_in_one_line(url: str, message: str) -> None:
    line = error_line(await webhooks("db", "upgrade", database_url=url))

    assert line.startswith(message), line
    assert "hunter2" not in line


async def test_db_current_shows_a_store_behind_and_what_to_run(database_url: str) -> None:
    await upgrade_to(database_url, "0003")

    result = await webhooks("db", "current", database_url=database_url)

    assert result.exit_code == 0, result.output
    assert "revision: 0003" in result.stdout.splitlines()
    assert f"latest: {head_revision()}" in result.stdout.splitlines()
    assert "Run 'webhooks db upgrade'" in result.stderr


async def test_db_upgrade_adopts_tables_made_before_migrations(database_url: str) -> None:
    await on_store(database_url, STORE_METADATA.create_all)

    result = await webhooks("db", "upgrade", database_url=database_url)

    assert result.exit_code == 0, result.output
    assert "already had the latest schema, made before migrations existed" in result.stdout
    assert await schema_revision(database_url) == head_revision()


async def test_db_upgrade_refuses_older_tables_made_before_migrations(database_url: str) -> None:
    await upgrade_to(database_url, "0002")
    await on_store(database_url, lambda c: c.execute(text("DROP TABLE alembic_version")))

    line = error_line(await webhooks("db", "upgrade", database_url=database_url))

    assert line.startswith("error: the store has tables made before migrations existed"), line
    assert "add_column endpoint.previous_secret" in line
    assert await schema_revision(database_url) is None


async def test_db_upgrade_refuses_a_store_a_newer_version_migrated(database_url: str) -> None:
    await upgrade_to(database_url, head_revision())
    await on_store(
        database_url, lambda c: c.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    )

    line = error_line(await webhooks("db", "upgrade", database_url=database_url))

    assert line.startswith("error: cannot upgrade the store from revision f00d: "), line
    assert "newer version of the service" in line
    assert await schema_revision(database_url) == "f00d"
