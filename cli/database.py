"""The store's schema from the command line: upgrading it and telling its revision.

The store is the service's own: ``DATABASE_URL`` (or ``.env``), read as the API and the
worker read it. The store's modules are imported when a ``db`` command runs, since the
commands that talk to the API need none of them and should start quickly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cli.errors import CliError

if TYPE_CHECKING:
    from core.schema import Upgrade


@dataclass(frozen=True)
class StoreRevision:
    store: str
    current: str | None
    latest: str
    known: bool


def _database_url() -> str:
    from pydantic import ValidationError

    from core.config import Settings

    try:
        return Settings().database_url
    except ValidationError as error:
        problems = "; ".join(problem["msg"] for problem in error.errors())
        raise CliError(f"the settings are invalid: {problems}") from None


def upgrade_store() -> tuple[str, Upgrade]:
    """Apply the migrations the store lacks; where it is, and what was done."""
    from core.schema import SchemaError, describe_store, upgrade_schema

    url = _database_url()
    try:
        upgrade = asyncio.run(upgrade_schema(url))
    except SchemaError as error:
        raise CliError(str(error)) from None
    return describe_store(url), upgrade


def store_revision() -> StoreRevision:
    from core.schema import (
        SchemaError,
        describe_store,
        head_revision,
        is_known_revision,
        schema_revision,
    )

    url = _database_url()
    try:
        current = asyncio.run(schema_revision(url))
    except SchemaError as error:
        raise CliError(str(error)) from None
    return StoreRevision(
        store=describe_store(url),
        current=current,
        latest=head_revision(),
        known=current is None or is_known_revision(current),
    )
