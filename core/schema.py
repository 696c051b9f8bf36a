"""The store's schema, kept by the Alembic migrations in ``core/migrations``.

``webhooks db upgrade`` brings a store to the latest revision with ``upgrade_schema``; the
API and the worker only check, with ``require_current_schema``, and refuse to run on a store
that is behind, so that two processes starting together never race to change it.

The check needs only the revisions' ids, read from the migration files without importing
them: Alembic, which costs a long-running process about 10 MB, is imported only to migrate
or to compare tables.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.models import Account
from core.store import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "webhooks db upgrade"
SUPPORTED_BACKENDS = ("postgresql", "sqlite")
VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not change it

# Every table of core.models is declared on the one metadata.
STORE_METADATA = Account.metadata
# Any fixed number: concurrent upgrades of one PostgreSQL database queue on this lock.
_UPGRADE_LOCK = 0x77_65_62_68


class SchemaError(Exception):
    """A store the service cannot use or migrate, explained in one line."""


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade_schema`` did: the revision before and after, and whether it adopted
    tables made before migrations existed instead of running migrations."""

    before: str | None
    after: str
    adopted: bool = False


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, in code: no alembic.ini needs to be in the working folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # The option is read through configparser, which would take % for interpolation.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _revision_ids(value: ast.expr | None) -> tuple[str, ...]:
    """A ``down_revision`` as Alembic takes it: none, one id, or a merge's several."""
    if value is None:
        return ()
    found = ast.literal_eval(value)
    if found is None:
        return ()
    return (found,) if isinstance(found, str) else tuple(found)


@lru_cache
def revisions() -> dict[str, tuple[str, ...]]:
    """Each migration's revision id and the ids it follows, as its file assigns them."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        values: dict[str, ast.expr | None] = {}
        for statement in ast.parse(path.read_text(), str(path)).body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                values[statement.target.id] = statement.value
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        values[target.id] = statement.value
        revision = values.get("revision")
        if revision is not None:
            graph[ast.literal_eval(revision)] = _revision_ids(values.get("down_revision"))
    return graph


def head_revision() -> str:
    graph = revisions()
    followed = {parent for parents in graph.values() for parent in parents}
    heads = sorted(set(graph) - followed)
    assert heads, "core/migrations/versions holds no revision"
    assert len(heads) == 1, f"core/migrations/versions has several heads: {heads}"
    return heads[0]


def is_known_revision(revision: str) -> bool:
    return revision in revisions()


def include_store_objects(name: str | None, kind: str, parent_names: Any) -> bool:
    """Compare only the service's own tables: a shared database may hold others."""
    return kind != "table" or name in STORE_METADATA.tables


def describe_store(url: str) -> str:
    """Where a store is, for messages: a SQLite file's path, otherwise the URL without its
    password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def _engine_for(url: str) -> AsyncEngine:
    """An engine for the store at ``url``, or what is wrong with the URL in one line."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SchemaError(
            "DATABASE_URL is not a database URL; expected e.g. "
            "postgresql://user:password@host:5432/database or sqlite:///path/to/webhooks.db"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise SchemaError(
            "DATABASE_URL names a database this service does not support "
            f"({parsed.get_backend_name()}); use postgresql:// or sqlite://"
        )
    with _store_errors(url):
        try:
            return create_engine(url, pool_size=1)
        except (ArgumentError, InvalidRequestError, ImportError) as error:
            raise SchemaError(
                f"DATABASE_URL names a driver the service cannot use ({parsed.drivername}): {error}"
            ) from None


@contextmanager
def _store_errors(url: str) -> Iterator[None]:
    """The store unreachable or refusing, as one line naming it, never its password."""
    try:
        yield
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()
        raise SchemaError(
            f"cannot use the store at {describe_store(url)}: {reason[0] if reason else error}"
        ) from None
    except OSError as error:
        raise SchemaError(
            f"cannot open the store at {describe_store(url)}: {error.strerror or error}"
        ) from None


def _current_revision(connection: Connection) -> str | None:
    # Read here rather than through a MigrationContext, which logs its DDL mode as if about
    # to migrate: the API and the worker only look.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    return ",".join(sorted(versions)) or None


def _differences(connection: Connection) -> list[str]:
    """How the tables differ from the models, one phrase per difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"include_name": include_store_objects})
    return [_describe(difference) for difference in compare_metadata(context, STORE_METADATA)]


def _describe(difference: Any) -> str:
    if isinstance(difference, list):  # changes to one column come grouped
        kind, _schema, table, column = difference[0][:4]
        return f"{kind} {table}.{column}"
    kind, subject = difference[0], difference[-1]
    if kind in ("add_column", "remove_column"):
        return f"{kind} {difference[2]}.{subject.name}"
    table = getattr(subject, "table", None)
    where = f" on {table.name}" if table is not None else ""
    return f"{kind} {subject.name or '(unnamed)'}{where}"


def _upgrade(connection: Connection) -> Upgrade:
    from alembic import command
    from alembic.util import CommandError

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
    # SQLite needs no lock: the store begins every transaction as IMMEDIATE, one writer at once.
    config = alembic_config()
    config.attributes["connection"] = connection
    before = _current_revision(connection)
    head = head_revision()
    existing = set(inspect(connection).get_table_names()) & set(STORE_METADATA.tables)
    if before is None and existing:
        # Tables made by an earlier build that created them straight from the models.
        differences = _differences(connection)
        if differences:
            raise SchemaError(
                "the store has tables made before migrations existed, and they differ from "
                f"the latest schema ({'; '.join(differences)}); upgrade it by hand or start "
                "from an empty database"
            )
        command.stamp(config, head)
        return Upgrade(before=None, after=head, adopted=True)
    try:
        command.upgrade(config, "head")
    except CommandError as error:
        raise SchemaError(
            f"cannot upgrade the store from revision {before}: {error} (was it migrated by a "
            "newer version of the service?)"
        ) from None
    return Upgrade(before=before, after=head)


async def upgrade_schema(url: str) -> Upgrade:
    """Bring the store at ``url`` to the latest revision, in one transaction."""
    engine = _engine_for(url)
    try:
        with _store_errors(url):
            async with engine.begin() as connection:
                return await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()


async def _revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


async def schema_revision(url: str) -> str | None:
    """The revision the store at ``url`` is at; None for one migrations never touched."""
    engine = _engine_for(url)
    try:
        with _store_errors(url):
            return await _revision(engine)
    finally:
        await engine.dispose()


async def require_current_schema(engine: AsyncEngine) -> None:
    """Refuse a store that is not at the latest revision, saying what to run."""
    url = engine.url.render_as_string(hide_password=False)
    with _store_errors(url):
        current = await _revision(engine)
    head = head_revision()
    if current == head:
        return
    where = describe_store(url)
    if current is None:
        state = "has no schema yet, or one made before migrations existed"
    elif is_known_revision(current):
        state = f"is at revision {current}, behind the latest ({head})"
    else:
        raise SchemaError(
            f"the store at {where} is at revision {current}, which this version of the "
            "service does not know: a newer version migrated it"
        )
    raise SchemaError(f"the store at {where} {state}: run '{UPGRADE_COMMAND}'")
