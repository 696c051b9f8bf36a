"""``webhooks``: inspect and operate the webhook service from a terminal.

Every command but ``temporal setup`` and ``db`` talks to the HTTP API, at ``--api-url`` (or
``WEBHOOKS_API_URL``) with the account key ``--api-key`` (or ``WEBHOOKS_API_KEY``); ``db``
works on the store at ``DATABASE_URL``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from cli import output
from cli.client import DEFAULT_API_URL, PAGE_SIZE_MAX, ApiClient, Json
from cli.database import store_revision, upgrade_store
from cli.errors import CliError
from cli.temporal import register_search_attributes
from core.contracts import DeliveryStatus

app = typer.Typer(
    name="webhooks",
    help="Operate Teachstack Webhooks: emit and inspect events, manage endpoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
events_app = typer.Typer(help="Inspect emitted events.", no_args_is_help=True)
endpoints_app = typer.Typer(
    help="List, disable, enable and recover endpoints.", no_args_is_help=True
)
temporal_app = typer.Typer(
    help="Prepare a Temporal namespace for the service.", no_args_is_help=True
)
db_app = typer.Typer(
    help="Migrate the store at DATABASE_URL to the schema this version needs.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(temporal_app, name="temporal")
app.add_typer(db_app, name="db")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Connection:
    api_url: str
    api_key: str | None


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Show a failure as one ``error:`` line on stderr and exit 1, never as a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CliError as failure:
            output.error(str(failure))
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as failure:
            output.error(f"unexpected failure: {type(failure).__name__}: {failure}")
        raise typer.Exit(1)

    return run


def _api(ctx: typer.Context) -> ApiClient:
    connection = ctx.find_object(Connection)
    if connection is None:  # pragma: no cover - the root callback always sets it
        raise CliError("no API connection settings")
    if not connection.api_key:
        raise CliError("no API key: pass --api-key or set WEBHOOKS_API_KEY")
    return ApiClient(connection.api_url, connection.api_key)


def _moment(value: str) -> datetime:
    """An ISO 8601 date or time; one without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 8601 time, e.g. 2026-11-27T09:00:00Z or 2026-11-27"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _load_data(value: str) -> Json:
    """``--data``: a JSON object given inline, or ``@path`` to read it from a file."""
    source = "--data"
    text = value
    if value.startswith("@"):
        path = value[1:]
        source = path
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            raise CliError(f"cannot read --data file {path}: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{source} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise CliError(f"{source} must be a JSON object, not {type(data).__name__}")
    return data


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")]


@app.callback()
def root(
    ctx: typer.Context,
    api_url: Annotated[
        str, typer.Option("--api-url", envvar="WEBHOOKS_API_URL", help="Base URL of the API.")
    ] = DEFAULT_API_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="WEBHOOKS_API_KEY",
            help="The account's API key.",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = Connection(api_url=api_url, api_key=api_key)


# ---------------------------------------------------------------- emit and resend


@app.command()
@reported
def emit(
    ctx: typer.Context,
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. room.created")],
    data: Annotated[
        str,
        typer.Option(
            "--data", help="The event's data: a JSON object, or @file.json (@- for stdin)."
        ),
    ],
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Emitting again with this key starts nothing."),
    ] = None,
) -> None:
    """Emit an event to every endpoint subscribed to its type."""
    payload = _load_data(data)
    with _api(ctx) as api:
        event, replayed = api.emit(event_type, payload, idempotency_key=idempotency_key)
    output.lines(
        ("event", event["id"]),
        ("type", event["type"]),
        ("workflow", event["workflow_id"]),
        ("workflow url", event["workflow_url"]),
    )
    if replayed:
        output.note("This idempotency key was used before: nothing new was started.")


@app.command()
@reported
def resend(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="The endpoint to deliver to.")],
) -> None:
    """Deliver an event to one endpoint again, with the same webhook-id."""
    with _api(ctx) as api:
        accepted = api.resend(event_id, endpoint)
    output.lines(
        ("event", accepted["event_id"]),
        ("endpoint", accepted["endpoint_id"]),
        ("workflow", accepted["workflow_id"]),
        ("workflow url", accepted["workflow_url"]),
    )
    if accepted.get("already_running"):
        output.note(
            "A resend to this endpoint had an attempt under way: nothing more was sent now."
        )
    elif accepted.get("replaced"):
        output.note(
            "A resend to this endpoint was waiting to retry: it was stopped, "
            "and this one sends now."
        )


# ---------------------------------------------------------------- events


@events_app.command("list")
@reported
def list_events(
    ctx: typer.Context,
    event_type: Annotated[
        str | None, typer.Option("--type", help="Only events of this type.")
    ] = None,
    status: Annotated[
        DeliveryStatus | None,
        typer.Option("--status", help="Only events with a delivery in this state."),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only events sent to this endpoint.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(parser=_moment, metavar="ISO", help="Emitted at or after (UTC if no zone)."),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(parser=_moment, metavar="ISO", help="Emitted before (UTC if no zone)."),
    ] = None,
    waiting: Annotated[
        bool,
        typer.Option(
            "--waiting", help="Only events still waiting for a worker to find their endpoints."
        ),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=PAGE_SIZE_MAX, help="Events per page.")] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Start from this next_cursor of an earlier page.")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Follow next_cursor to the last page.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Events, newest first, with their delivery states per endpoint."""
    filters: dict[str, Any] = {
        "event_type": event_type,
        "status": status.value if status else None,
        "endpoint_id": endpoint,
        "since": since,
        "until": until,
        "resolved": False if waiting else None,
        "limit": limit,
    }
    with _api(ctx) as api:
        if all_pages:
            events = [
                event
                for page in api.event_pages(cursor=cursor, **filters)
                for event in page["data"]
            ]
            next_cursor = None
        else:
            page = api.list_events(cursor=cursor, **filters)
            events, next_cursor = page["data"], page.get("next_cursor")
    if as_json:
        output.print_json({"data": events, "next_cursor": next_cursor})
        return
    if not events:
        output.note("No events.")
        return
    output.stdout().print(output.events_table(events))
    if next_cursor:
        output.note(f"More events: add --all, or --cursor {next_cursor}")


@events_app.command("show")
@reported
def show_event(
    ctx: typer.Context,
    event_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """An event, its delivery to each endpoint, its attempts and its workflow."""
    with _api(ctx) as api:
        event = api.get_event(event_id)
        attempts = api.event_attempts(event_id)
    if as_json:
        output.print_json({"event": event, "attempts": attempts})
        return
    output.stdout().print(output.event_view(event, attempts))


# ---------------------------------------------------------------- endpoints


@endpoints_app.command("list")
@reported
def list_endpoints(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The account's endpoints, their events, status and last 24 hours' success rate."""
    with _api(ctx) as api:
        endpoints = api.list_endpoints()
    if as_json:
        output.print_json(endpoints)
        return
    if not endpoints["data"]:
        output.note("No endpoints.")
        return
    output.stdout().print(output.endpoints_table(endpoints["data"]))


def _set_disabled(ctx: typer.Context, endpoint_id: str, disabled: bool) -> None:
    with _api(ctx) as api:
        endpoint = api.set_endpoint_disabled(endpoint_id, disabled)
    output.lines(
        ("endpoint", endpoint["id"]),
        ("url", endpoint["url"]),
        ("status", output.endpoint_status(endpoint).plain),
    )


@endpoints_app.command("disable")
@reported
def disable_endpoint(
    ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Stop deliveries to an endpoint."""
    _set_disabled(ctx, endpoint_id, True)


@endpoints_app.command("enable")
@reported
def enable_endpoint(
    ctx: typer.Context, endpoint_id: Annotated[str, typer.Argument(metavar="ID")]
) -> None:
    """Resume deliveries to an endpoint."""
    _set_disabled(ctx, endpoint_id, False)


@endpoints_app.command("recover")
@reported
def recover_endpoint(
    ctx: typer.Context,
    endpoint_id: Annotated[str, typer.Argument(metavar="ID")],
    since: Annotated[
        datetime,
        typer.Option(
            parser=_moment, metavar="ISO", help="Recover from this time (UTC if no zone)."
        ),
    ],
) -> None:
    """Recover an endpoint: deliver again what it missed since a time."""
    with _api(ctx) as api:
        accepted = api.recover_endpoint(endpoint_id, since)
    output.lines(
        ("endpoint", accepted["endpoint_id"]),
        ("since", output.when(accepted["since"])),
        ("workflow", accepted["workflow_id"]),
        ("workflow url", accepted["workflow_url"]),
    )


# ---------------------------------------------------------------- temporal


@temporal_app.command("setup")
@reported
def temporal_setup() -> None:
    """Register the service's search attributes on the configured Temporal namespace.

    Reads TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, the TLS variables and
    config-file profiles the way the temporal CLI does.
    """
    result = register_search_attributes()
    where = f"namespace {result.namespace!r} at {result.address}"
    if result.added:
        output.say(f"Added to {where}: {', '.join(result.added)}")
    else:
        output.say(f"Nothing missing: {where} already has {', '.join(result.known)}")


# ---------------------------------------------------------------- db


@db_app.command("upgrade")
@reported
def db_upgrade() -> None:
    """Apply the migrations the store at DATABASE_URL lacks; running it again does nothing.

    A store whose tables were made before migrations existed is adopted when they match
    the latest schema, and refused otherwise.
    """
    store, upgrade = upgrade_store()
    if upgrade.adopted:
        output.say(
            f"The store at {store} already had the latest schema, made before migrations "
            f"existed: recorded it as revision {upgrade.after}."
        )
    elif upgrade.before == upgrade.after:
        output.say(f"The store at {store} is up to date: revision {upgrade.after}.")
    else:
        start = f"revision {upgrade.before}" if upgrade.before else "an empty database"
        output.say(f"Upgraded the store at {store} from {start} to revision {upgrade.after}.")


@db_app.command("current")
@reported
def db_current() -> None:
    """The revision the store at DATABASE_URL is at, and the latest this version knows."""
    revision = store_revision()
    output.lines(
        ("store", revision.store),
        ("revision", revision.current or "none"),
        ("latest", revision.latest),
    )
    if not revision.known:
        output.note("This version of the service does not know that revision: a newer one made it.")
    elif revision.current != revision.latest:
        output.note("Run 'webhooks db upgrade' to bring the store up to date.")
