"""Writers of a SQLite store take turns through a lock file before they ask SQLite."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from core import store
from core.sqlite_turns import WriterTurns
from tests.rows import Sessions, new_account

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _turn_file(store_url: str) -> Path:
    return Path(store_url.split("///", 1)[1]).with_name("webhooks.db.writer-turn")


@contextmanager
def _turn_held_elsewhere(path: Path) -> Iterator[None]:
    """The turn, held as another process holding it would: a lock on its own handle."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _turn_is_free(path: Path) -> bool:
    handle = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(handle)


def _statements(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    sa_event.listen(engine.sync_engine, "before_cursor_execute", note)
    return seen


async def test_a_writer_waits_for_its_turn_before_asking_sqlite(
    sessions: Sessions, store_url: str
) -> None:
    other = store.create_engine(store_url)
    asked = _statements(other)
    try:
        async with store.transaction(sessions) as holding:
            await (await holding.connection()).execute(text("UPDATE account SET name = name"))
            waiting = asyncio.create_task(new_account(store.session_factory(other)))
            await asyncio.sleep(0.3)
            # Waiting in the kernel for the turn, not in SQLite's busy handler.
            assert not waiting.done()
            assert "BEGIN IMMEDIATE" not in asked
            assert not _turn_is_free(_turn_file(store_url))
        async with asyncio.timeout(10):
            account_id, _ = await waiting
    finally:
        await other.dispose()
    assert account_id.startswith("acct_") and "BEGIN IMMEDIATE" in asked


async def test_the_turn_ends_with_the_transaction(sessions: Sessions, store_url: str) -> None:
    await new_account(sessions)
    assert _turn_is_free(_turn_file(store_url))


async def test_reads_take_no_turn(sessions: Sessions, store_url: str) -> None:
    await new_account(sessions)
    with _turn_held_elsewhere(_turn_file(store_url)):
        async with asyncio.timeout(5), store.read_transaction(sessions) as session:
            counted = await (await session.connection()).execute(
                text("SELECT count(*) FROM account")
            )
            accounts = counted.scalar()
    assert accounts == 1


async def test_a_writer_whose_turn_does_not_come_goes_on_to_sqlites_wait(
    store_url: str,
) -> None:
    """A turn held by something that holds no SQLite lock (a stuck process) delays writers
    by the turn's timeout, no more; the next writer takes turns again."""
    database = Path(store_url.split("///", 1)[1])
    engine = create_engine(f"sqlite:///{database}")
    WriterTurns(database, timeout=0.2).attach(engine, asynchronous=False)

    @sa_event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    @sa_event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    try:
        with _turn_held_elsewhere(_turn_file(store_url)):
            with engine.begin() as connection:
                connection.execute(text("UPDATE account SET name = name"))
        with engine.begin() as connection:
            connection.execute(text("UPDATE account SET name = name"))
            held_again = not _turn_is_free(_turn_file(store_url))
    finally:
        engine.dispose()
    assert held_again


async def test_a_writer_cancelled_while_it_waits_leaves_no_turn_held(
    sessions: Sessions, store_url: str
) -> None:
    turn = _turn_file(store_url)
    with _turn_held_elsewhere(turn):
        waiting = asyncio.create_task(new_account(sessions))
        await asyncio.sleep(0.3)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    # The given-up wait gets the turn once it is free, and lets it go at once.
    async with asyncio.timeout(5):
        while not _turn_is_free(turn):
            await asyncio.sleep(0.02)
        account_id, _ = await new_account(sessions)
    assert _turn_is_free(turn) and account_id.startswith("acct_")


async def test_connections_opening_a_new_file_together_all_switch_it_to_wal(
    database_url: str,
) -> None:
    """SQLite switches a file to WAL without its busy wait: unordered, connections opened
    together on a new file failed with "database is locked" about one time in four."""
    folder = Path(database_url.split("///", 1)[1]).parent
    for attempt in range(20):
        url = f"sqlite+aiosqlite:///{folder / f'new-{attempt}.db'}"
        engines = [store.create_engine(url) for _ in range(3)]
        try:
            modes = await asyncio.gather(*(_journal_mode(engine) for engine in engines))
        finally:
            await asyncio.gather(*(engine.dispose() for engine in engines))
        assert modes == ["wal", "wal", "wal"]


async def _journal_mode(engine: AsyncEngine) -> str:
    async with engine.begin() as connection:
        mode: str = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
    return mode
