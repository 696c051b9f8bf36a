"""Stores brought to a given revision, and plain SQL run on them, for the migration tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from alembic import command
from sqlalchemy.engine import Connection

from core import store
from core.schema import alembic_config

T = TypeVar("T")


async def on_store(url: str, work: Callable[[Connection], T]) -> T:
    """``work(connection)`` in one transaction on the store at ``url``."""
    engine = store.create_engine(url)
    try:
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


async def upgrade_to(url: str, revision: str) -> None:
    await _alembic(url, command.upgrade, revision)


async def downgrade_to(url: str, revision: str) -> None:
    await _alembic(url, command.downgrade, revision)


async def _alembic(url: str, action: Callable[..., None], revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        action(config, revision)

    await on_store(url, run)
