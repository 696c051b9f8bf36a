"""The store: accounts, keys, endpoints, events, deliveries and attempts.

Every function takes the session first and the rest by keyword, and scopes reads to an
account wherever the caller acts for one, so a route cannot forget the tenant.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import create_engine as create_sync
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from core.contracts import DeliveryStatus
from core.ids import new_id
from core.models import Account, ApiKey, Attempt, Delivery, Endpoint, Event, utc_now
from core.signing import generate_secret
from core.sqlite_turns import READS_ONLY, WriterTurns

API_KEY_PREFIX = "tsk_"
# How long a SQLite writer waits for the write lock before its transaction fails.
_SQLITE_BUSY_SECONDS = 30


# ---------------------------------------------------------------- engine and sessions


def async_database_url(url: str) -> str:
    """Accept plain ``sqlite://`` and ``postgresql://`` URLs and pick the async drivers."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = async_database_url(url)
    if not url.startswith("sqlite"):
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    _make_parent_folder(url)
    engine = create_async_engine(url, connect_args={"timeout": _SQLITE_BUSY_SECONDS})
    _configure_sqlite(engine.sync_engine, asynchronous=True)
    return engine


def create_sync_engine(url: str, *, pool_size: int = 1) -> Engine:
    """A synchronous engine on the same database, for work that runs whole transactions on
    a thread; one connection is enough for a caller that runs one at a time."""
    url = async_database_url(url).replace("sqlite+aiosqlite://", "sqlite://", 1)
    if not url.startswith("sqlite"):
        return create_sync(url, pool_size=pool_size, max_overflow=1, pool_pre_ping=True)
    _make_parent_folder(url)
    engine = create_sync(
        url, pool_size=pool_size, max_overflow=1, connect_args={"timeout": _SQLITE_BUSY_SECONDS}
    )
    _configure_sqlite(engine, asynchronous=False)
    return engine


def reads_only(engine: Engine) -> Engine:
    """``engine``'s pool, for transactions that only read: on SQLite they take no lock."""
    return engine.execution_options(**{READS_ONLY: True})


def _make_parent_folder(sqlite_url: str) -> None:
    database = sqlite_url.split("///", 1)[-1].split("?", 1)[0]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, *, asynchronous: bool) -> None:
    database = engine.url.database
    turns = None
    if database and database != ":memory:":
        # Before the listener below that begins transactions: a writer waits for its turn,
        # then finds SQLite's lock free.
        turns = WriterTurns(Path(database), timeout=_SQLITE_BUSY_SECONDS)
        turns.attach(engine, asynchronous=asynchronous)

    @sa_event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # The API and the worker write from separate processes: WAL lets readers run beside
        # the writer, and transactions that may write are begun below as IMMEDIATE so that
        # a writer waits for the lock instead of failing when it upgrades from a read.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode")
        (journal_mode,) = cursor.fetchone()
        if journal_mode != "wal" and turns is not None:
            # A new file: WAL, once set, stays with it.
            turns.outside_transactions(
                record,
                lambda: cursor.execute("PRAGMA journal_mode=WAL"),
                asynchronous=asynchronous,
            )
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A reads-only transaction takes no lock at all: it reads WAL's last snapshot.
        reads_only = connection.get_execution_options().get(READS_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed on success and rolled back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def begin_reads(session: AsyncSession) -> None:
    """Begin the session's transaction as reads only: on SQLite it takes no lock, so it
    must write nothing; the session's next transaction after a commit is an ordinary one."""
    await session.connection(execution_options={READS_ONLY: True})


@asynccontextmanager
async def read_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session for reads only; on SQLite it leaves the one write lock to the writers."""
    async with sessions() as session:
        await begin_reads(session)
        yield session
        # Ended by a commit, which leaves what was read loaded; a rollback would expire it.
        await session.commit()


# ---------------------------------------------------------------- accounts and keys


def hash_api_key(api_key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(api_key.encode()).hexdigest()


async def create_account(session: AsyncSession, *, name: str) -> tuple[Account, str]:
    """A new account and its API key; the key itself is returned once and never stored."""
    account = Account(id=new_id("acct"), name=name)
    api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(account)
    await session.flush()
    session.add(ApiKey(id=new_id("key"), account_id=account.id, key_hash=hash_api_key(api_key)))
    await session.flush()
    return account, api_key


def account_for_api_key_query(api_key: str) -> SelectOfScalar[Account]:
    return (
        select(Account)
        .join(ApiKey, col(ApiKey.account_id) == col(Account.id))
        .where(ApiKey.key_hash == hash_api_key(api_key))
    )


# ---------------------------------------------------------------- endpoints


async def create_endpoint(
    session: AsyncSession,
    *,
    account_id: str,
    url: str,
    event_types: Sequence[str],
    description: str,
    retry_policy: str | None,
) -> Endpoint:
    endpoint = Endpoint(
        id=new_id("ep"),
        account_id=account_id,
        url=url,
        event_types=list(dict.fromkeys(event_types)),
        description=description,
        retry_policy=retry_policy,
        secret=generate_secret(),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get_endpoint(
    session: AsyncSession, *, account_id: str, endpoint_id: str
) -> Endpoint | None:
    endpoint = await session.get(Endpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.account_id == account_id else None


async def list_endpoints(session: AsyncSession, *, account_id: str) -> list[Endpoint]:
    statement = select(Endpoint).where(Endpoint.account_id == account_id).order_by(col(Endpoint.id))
    return list((await session.exec(statement)).all())


async def update_endpoint(
    session: AsyncSession, *, endpoint: Endpoint, changes: dict[str, Any]
) -> Endpoint:
    """Apply field changes; ``disabled`` true or false disables or enables the endpoint."""
    changes = dict(changes)
    if "disabled" in changes:
        disabled = changes.pop("disabled")
        if disabled and endpoint.disabled_at is None:
            endpoint.disabled_at, endpoint.disabled_reason = utc_now(), "disabled by the account"
        elif not disabled:
            endpoint.disabled_at, endpoint.disabled_reason = None, None
    if "event_types" in changes:
        changes["event_types"] = list(dict.fromkeys(changes["event_types"]))
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.updated_at = utc_now()
    session.add(endpoint)
    await session.flush()
    return endpoint


async def rotate_endpoint_secret(
    session: AsyncSession, *, endpoint: Endpoint, grace: timedelta
) -> Endpoint:
    """A new secret; deliveries also carry the old one's signature until ``grace`` is over."""
    now = utc_now()
    endpoint.previous_secret, endpoint.previous_secret_expires_at = endpoint.secret, now + grace
    endpoint.secret = generate_secret()
    endpoint.updated_at = now
    session.add(endpoint)
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, *, endpoint: Endpoint) -> None:
    # Deliveries and attempts stay: they are the record of what was sent.
    await session.delete(endpoint)
    await session.flush()


def endpoints_by_id_query(
    *, account_id: str, endpoint_ids: Sequence[str]
) -> SelectOfScalar[Endpoint]:
    """The account's enabled endpoints among ``endpoint_ids``, oldest first."""
    return (
        select(Endpoint)
        .where(
            Endpoint.account_id == account_id,
            col(Endpoint.id).in_(endpoint_ids),
            col(Endpoint.disabled_at).is_(None),
        )
        .order_by(col(Endpoint.id))
    )


async def endpoints_by_id(
    session: AsyncSession, *, account_id: str, endpoint_ids: Sequence[str]
) -> list[Endpoint]:
    """The account's enabled endpoints among ``endpoint_ids``, oldest first."""
    query = endpoints_by_id_query(account_id=account_id, endpoint_ids=endpoint_ids)
    return list((await session.exec(query)).all())


async def attempt_stats(
    session: AsyncSession, *, account_id: str, since: datetime, endpoint_id: str | None = None
) -> dict[str, tuple[int, int]]:
    """Per endpoint of the account, or only ``endpoint_id``: (attempts, successes) since then."""
    statement = (
        select(Attempt.endpoint_id, Attempt.outcome, func.count())
        .where(Attempt.account_id == account_id, col(Attempt.started_at) >= since)
        .group_by(col(Attempt.endpoint_id), col(Attempt.outcome))
    )
    if endpoint_id is not None:
        statement = statement.where(Attempt.endpoint_id == endpoint_id)
    stats: dict[str, tuple[int, int]] = {}
    for endpoint_id, outcome, count in (await session.exec(statement)).all():
        total, succeeded = stats.get(endpoint_id, (0, 0))
        stats[endpoint_id] = (total + count, succeeded + (count if outcome == "succeeded" else 0))
    return stats


def account_endpoints_query(
    *, account_id: str, include_disabled: bool = False
) -> SelectOfScalar[Endpoint]:
    """The account's endpoints, oldest first, for ``subscribers_among`` to pick from:
    subscriptions are matched here, not in SQL."""
    query = select(Endpoint).where(Endpoint.account_id == account_id)
    if not include_disabled:
        query = query.where(col(Endpoint.disabled_at).is_(None))
    return query.order_by(col(Endpoint.id))


def subscribers_among(endpoints: Sequence[Endpoint], event_type: str) -> list[Endpoint]:
    return [endpoint for endpoint in endpoints if endpoint.subscribes_to(event_type)]


async def subscribed_endpoints(
    session: AsyncSession, *, account_id: str, event_type: str, include_disabled: bool = False
) -> list[Endpoint]:
    """The account's endpoints that receive ``event_type``, oldest first; enabled ones only
    unless ``include_disabled``."""
    query = account_endpoints_query(account_id=account_id, include_disabled=include_disabled)
    return subscribers_among((await session.exec(query)).all(), event_type)


# ---------------------------------------------------------------- events


def new_event(
    *, account_id: str, event_type: str, data: dict[str, Any], idempotency_key: str | None
) -> Event:
    return Event(
        id=new_id("msg"),
        account_id=account_id,
        type=event_type,
        data=data,
        idempotency_key=idempotency_key,
    )


async def create_event(
    session: AsyncSession,
    *,
    account_id: str,
    event_type: str,
    data: dict[str, Any],
    idempotency_key: str | None,
) -> Event | None:
    """Store a new event; None when the idempotency key is already taken in the account."""
    event = new_event(
        account_id=account_id, event_type=event_type, data=data, idempotency_key=idempotency_key
    )
    try:
        async with session.begin_nested():
            session.add(event)
    except IntegrityError:
        if idempotency_key is None:
            raise
        return None
    return event


async def get_event(session: AsyncSession, *, account_id: str, event_id: str) -> Event | None:
    """An accepted event of the account: one whose workflow has started."""
    event = await session.get(Event, event_id)
    if event is None or event.account_id != account_id or not event.workflow_started:
        return None
    return event


async def event_by_idempotency_key(
    session: AsyncSession, *, account_id: str, idempotency_key: str
) -> Event | None:
    statement = select(Event).where(
        Event.account_id == account_id, Event.idempotency_key == idempotency_key
    )
    return (await session.exec(statement)).first()


@dataclass(frozen=True)
class EventFilter:
    event_type: str | None = None
    status: DeliveryStatus | None = None
    endpoint_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    resolved: bool | None = None


async def list_events(
    session: AsyncSession,
    *,
    account_id: str,
    where: EventFilter,
    before: str | None,
    limit: int,
) -> tuple[list[Event], str | None]:
    """Accepted events newest first, and the cursor of the next page (None on the last page)."""
    statement = select(Event).where(Event.account_id == account_id, col(Event.workflow_started))
    if where.event_type:
        statement = statement.where(Event.type == where.event_type)
    if where.since:
        statement = statement.where(col(Event.created_at) >= where.since)
    if where.until:
        statement = statement.where(col(Event.created_at) < where.until)
    if where.resolved is not None:
        statement = statement.where(col(Event.endpoints_resolved).is_(where.resolved))
    if where.status or where.endpoint_id:
        deliveries = select(Delivery.event_id).where(Delivery.account_id == account_id)
        if where.status:
            deliveries = deliveries.where(Delivery.status == where.status)
        if where.endpoint_id:
            deliveries = deliveries.where(Delivery.endpoint_id == where.endpoint_id)
        statement = statement.where(col(Event.id).in_(deliveries))
    if before:
        statement = statement.where(col(Event.id) < before)
    rows = list(
        (await session.exec(statement.order_by(col(Event.id).desc()).limit(limit + 1))).all()
    )
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


# ---------------------------------------------------------------- deliveries and attempts


async def get_delivery(
    session: AsyncSession, *, event_id: str, endpoint_id: str
) -> Delivery | None:
    statement = select(Delivery).where(
        Delivery.event_id == event_id, Delivery.endpoint_id == endpoint_id
    )
    return (await session.exec(statement)).first()


async def deliveries_of(
    session: AsyncSession, *, event_ids: Sequence[str]
) -> dict[str, list[Delivery]]:
    by_event: dict[str, list[Delivery]] = {event_id: [] for event_id in event_ids}
    if event_ids:
        statement = (
            select(Delivery)
            .where(col(Delivery.event_id).in_(event_ids))
            # In the order the endpoints were made (to the millisecond), the same for every event.
            .order_by(col(Delivery.endpoint_id))
        )
        for delivery in (await session.exec(statement)).all():
            by_event[delivery.event_id].append(delivery)
    return by_event


async def delivery_urls(session: AsyncSession, deliveries: Sequence[Delivery]) -> dict[str, str]:
    """Delivery id -> where it goes: its endpoint's URL, or, for an endpoint since deleted,
    where its last attempt went. A deleted endpoint's delivery never attempted has none."""
    endpoint_ids = {delivery.endpoint_id for delivery in deliveries}
    current: dict[str, str] = {}
    if endpoint_ids:
        rows = await session.exec(
            select(Endpoint.id, Endpoint.url).where(col(Endpoint.id).in_(endpoint_ids))
        )
        current = dict(rows.all())
    urls = {d.id: current[d.endpoint_id] for d in deliveries if d.endpoint_id in current}
    gone = {(d.event_id, d.endpoint_id): d.id for d in deliveries if d.id not in urls}
    if gone:
        attempts = await session.exec(
            select(Attempt.event_id, Attempt.endpoint_id, Attempt.url)
            .where(
                col(Attempt.event_id).in_({event_id for event_id, _ in gone}),
                col(Attempt.url).is_not(None),
            )
            .order_by(col(Attempt.id))
        )
        for event_id, endpoint_id, url in attempts.all():
            delivery_id = gone.get((event_id, endpoint_id))
            if delivery_id is not None and url is not None:
                urls[delivery_id] = url  # the newest attempt comes last
    return urls


async def mark_delivery_failed(
    session: AsyncSession, *, event_id: str, endpoint_id: str, error: str
) -> Delivery | None:
    """Settle a delivery whose retries are over, unless it already settled; returns the
    delivery this settled, None if there was nothing to settle."""
    delivery = await get_delivery(session, event_id=event_id, endpoint_id=endpoint_id)
    if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
        return None
    delivery.status = DeliveryStatus.FAILED
    delivery.next_attempt_at = None
    delivery.last_error = delivery.last_error or error[:1000]
    delivery.updated_at = utc_now()
    session.add(delivery)
    await session.flush()
    return delivery


async def recoverable_events(
    session: AsyncSession,
    *,
    endpoint_id: str,
    since: datetime,
    after_event_id: str | None,
    limit: int,
) -> list[Event]:
    """Events since ``since`` whose delivery to the endpoint failed or was skipped, in the
    order they were emitted, after ``after_event_id``."""
    statement = (
        select(Event)
        .join(Delivery, col(Delivery.event_id) == col(Event.id))
        .where(
            Delivery.endpoint_id == endpoint_id,
            col(Delivery.status).in_([DeliveryStatus.FAILED, DeliveryStatus.SKIPPED]),
            col(Event.created_at) >= since,
        )
        .order_by(col(Event.id))
        .limit(limit)
    )
    if after_event_id is not None:
        statement = statement.where(col(Event.id) > after_event_id)
    return list((await session.exec(statement)).all())


async def list_attempts(
    session: AsyncSession,
    *,
    account_id: str,
    event_id: str | None = None,
    endpoint_id: str | None = None,
    before: str | None,
    limit: int,
) -> tuple[list[Attempt], str | None]:
    """Attempts newest first, for one event or one endpoint, and the next page's cursor."""
    statement = select(Attempt).where(Attempt.account_id == account_id)
    if event_id is not None:
        statement = statement.where(Attempt.event_id == event_id)
    if endpoint_id is not None:
        statement = statement.where(Attempt.endpoint_id == endpoint_id)
    if before:
        statement = statement.where(col(Attempt.id) < before)
    rows = list(
        (await session.exec(statement.order_by(col(Attempt.id).desc()).limit(limit + 1))).all()
    )
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None
