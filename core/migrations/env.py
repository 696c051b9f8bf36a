"""Alembic's environment: migrations run on the connection ``core.schema`` hands over, or,
where Alembic is driven with only a URL (drafting a revision), on an engine of their own."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from core import models, store
from core.schema import STORE_METADATA, include_store_objects

config = context.config


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # A revision must keep meaning what it meant when written, so it spells the column type
    # out rather than depending on the models' decorator, which stores plain timestamps.
    if kind == "type" and isinstance(item, models.UTCDateTime):
        return "sa.DateTime()"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=STORE_METADATA,
        include_name=include_store_objects,
        render_item=render_item,
        # SQLite alters most of a table only by copying it into a new one.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_own_engine(url: str) -> None:
    engine = store.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


given: Connection | None = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(run_on_own_engine(config.get_main_option("sqlalchemy.url") or ""))
