"""A retry waits its schedule's time from the failed attempt's answer, however long the
attempt then takes to be stored."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from tests.conftest import Stack
from tests.events import example
from tests.receiver import Answer, Receiver

# The receiver's answer takes this long, so the store can be locked before it comes.
ANSWER_DELAY = 0.3
# The "steady" policy's wait between its two attempts.
RETRY_WAIT = 3.0
# How long the store stays locked after the answer: the attempt waits this long to be stored.
# Longer than the retry's wait, so a schedule counted from the store would come a whole wait
# after one counted from the answer: a busy machine's dispatch, near a second in a full
# test run, stays inside that margin.
LOCKED_AFTER_ANSWER = 4.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_slow_store_does_not_stretch_the_retry_schedule(
    stack: Stack, receiver: Receiver
) -> None:
    auth = await stack.account()
    await stack.endpoint(auth, receiver.url("/slow-store"), retry_policy="steady")
    receiver.script("/slow-store", Answer(500, delay=ANSWER_DELAY))

    event = await stack.emit(auth, "room.created", example("room.created"))
    (first,) = await receiver.wait_for("/slow-store", 1)
    database = stack.settings.database_url.split("///", 1)[1]
    locker = sqlite3.connect(database, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")
        answered_at = first.at + ANSWER_DELAY
        await asyncio.sleep(answered_at + LOCKED_AFTER_ANSWER - time.time())
        locker.execute("COMMIT")
    finally:
        locker.close()
    result = await stack.settled(event["id"])
    _, second = receiver.received("/slow-store")

    assert result.delivered == 1
    # The wait is over by the time the attempt is stored, so the retry follows the store at
    # once, plus Temporal's dispatch. Counted from the moment the attempt was stored, it
    # could come no sooner than a whole wait later:
    stored_at_the_earliest = ANSWER_DELAY + LOCKED_AFTER_ANSWER
    gap = second.at - first.at
    assert ANSWER_DELAY + RETRY_WAIT <= gap < stored_at_the_earliest + RETRY_WAIT
