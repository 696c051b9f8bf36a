"""A store of its own on a PostgreSQL server: a fresh schema, dropped after; and the
server's processes, to count their CPU."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from core.store import async_database_url

LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}


@contextlib.contextmanager
def scratch_schema(server_url: str, *, prefix: str = "webhooks_bench") -> Iterator[str]:
    """A ``DATABASE_URL`` whose tables land in a new schema of ``server_url``'s database,
    so that a run (or a test) starts on an empty store and leaves the database as it found
    it."""
    url = make_url(async_database_url(server_url))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"a PostgreSQL URL is needed, not {url.get_backend_name()!r}")
    schema = f"{prefix}_{secrets.token_hex(8)}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def server_process(server_url: str) -> int | None:
    """The pid of the PostgreSQL server's main process, whose children are its backends and
    helpers, when it runs on this machine; None for a server elsewhere."""
    url = make_url(async_database_url(server_url))
    if url.host not in LOCAL_HOSTS:
        return None
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        if row is None:
            return None
        try:
            backend = psutil.Process(row[0])
            if backend.name() != "postgres":
                # A server in a container, say, behind a forwarded port: its pids are not
                # this machine's.
                return None
            server: int = backend.ppid()
        except psutil.NoSuchProcess:
            return None
    return server
