"""Turns at writing to a SQLite store, handed from one writer to the next by the kernel.

SQLite lets one connection write at a time. A connection that finds the write lock taken
sleeps and tries again, up to 100 ms between tries, so under load its waiters sleep
through the moments the lock is free while newcomers take it: in a burst, the API's
writes waited seconds behind the worker's, and local activities that waited that long
outlived their workflow tasks. Every writer of a store therefore first takes an exclusive
``flock`` on a file beside it. The kernel wakes a waiter as soon as the holder lets go,
so SQLite's own lock is free whenever a writer asks for it.

The turn only orders writers: SQLite's lock still guards the data. A writer whose turn
does not come within the timeout goes on to SQLite's own wait, and a writer that takes
no turn (another program on the same file) is waited for by SQLite as before.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

# The execution option that marks a transaction as reads only: it takes no turn.
READS_ONLY = "webhooks_reads_only"
_HANDLE = "webhooks_writer_turn"
_HOLDS = "webhooks_writer_turn_held"
# Threads that wait in the kernel for a turn; more than a pool's connections never wait.
_WAITING_THREADS = 32

T = TypeVar("T")


class WriterTurns:
    """The turns of one store's writers: one lock file, one open handle per connection."""

    def __init__(self, database: Path, *, timeout: float) -> None:
        self.path = database.with_name(database.name + ".writer-turn")
        self._timeout = timeout
        self._waiters = ThreadPoolExecutor(_WAITING_THREADS, thread_name_prefix="writer-turn")

    def attach(self, engine: Engine, *, asynchronous: bool) -> None:
        """Make every transaction of ``engine`` that may write wait for its turn first.

        Call before registering the listener that begins transactions, so the turn is
        taken before SQLite is asked for its lock. ``asynchronous`` is for the sync side of
        an ``AsyncEngine``, whose listeners run on the event loop and must not block it.
        """

        @sa_event.listens_for(engine, "connect")
        def _open(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            record.info[_HANDLE] = self._new_handle()

        @sa_event.listens_for(engine, "checkin")
        def _end_turn(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            # A connection goes back to the pool once its transaction has ended.
            if record.info.pop(_HOLDS, False):
                fcntl.flock(record.info[_HANDLE], fcntl.LOCK_UN)

        @sa_event.listens_for(engine, "close")
        def _close(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
            record.info.pop(_HOLDS, None)
            handle = record.info.pop(_HANDLE, None)
            if handle is not None:
                os.close(handle)  # which also ends a turn still held

        @sa_event.listens_for(engine, "begin")
        def _take_turn(connection: Any) -> None:
            if connection.get_execution_options().get(READS_ONLY, False):
                return
            info = connection.connection.info
            if info.get(_HOLDS) or _HANDLE not in info:
                return
            info[_HOLDS] = self._take(info, asynchronous=asynchronous)

    def outside_transactions(
        self, record: ConnectionPoolEntry, work: Callable[[], T], *, asynchronous: bool
    ) -> T:
        """Run ``work`` on a connection just opened, in a turn of its own.

        For the switch to WAL, which SQLite makes outside any transaction and without its
        busy wait: two connections switching a new file at once fail with "database is
        locked" however long their timeout.
        """
        held = self._take(record.info, asynchronous=asynchronous)
        try:
            return work()
        finally:
            if held:
                fcntl.flock(record.info[_HANDLE], fcntl.LOCK_UN)

    def _new_handle(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _take(self, info: dict[Any, Any], *, asynchronous: bool) -> bool:
        """Wait for the turn; ``False`` when it did not come within the timeout."""
        handle: int = info[_HANDLE]
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        # The waiting thread locks through a duplicate of the handle, which it closes once
        # it has the turn: the turn is the handle's, and a wait given up cannot end up
        # holding a handle opened later under the same number.
        duplicate = os.dup(handle)
        waiting: Future[None] = self._waiters.submit(_wait_for_turn, duplicate)
        try:
            if asynchronous:
                await_only(asyncio.wait_for(asyncio.wrap_future(waiting), self._timeout))
            else:
                waiting.result(self._timeout)
            return True
        except BaseException as error:
            # Given up, for the timeout or because the caller was cancelled: this handle
            # is dropped, so the turn the thread may still get ends as soon as it comes
            # (when the thread closes its duplicate), and the connection goes on with a
            # new handle.
            if waiting.cancel():  # it never began to wait
                os.close(duplicate)
            info[_HANDLE] = self._new_handle()
            os.close(handle)
            if isinstance(error, TimeoutError | FutureTimeoutError):
                return False
            raise


def _wait_for_turn(handle: int) -> None:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    finally:
        os.close(handle)
