"""How the command line shows what the API returns: rich tables, or the raw JSON."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from core.contracts import DeliveryStatus

Json = dict[str, Any]

# Delivery states are summarised in the order the service declares them.
DELIVERY_STATES: tuple[str, ...] = tuple(DeliveryStatus)
_STATE_STYLES: dict[str, str] = {
    DeliveryStatus.PENDING: "yellow",
    DeliveryStatus.DELIVERING: "yellow",
    DeliveryStatus.DELIVERED: "green",
    DeliveryStatus.FAILED: "red",
    DeliveryStatus.SKIPPED: "magenta",
}
NONE = "—"


# Piped output has no width to fit: tables then take their natural width, up to this.
PIPE_WIDTH = 240


def stdout() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """The value as plain JSON on stdout, free of any styling, for scripts and ``jq``."""
    stdout().file.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def error(message: str) -> None:
    line = Text("error: ", style="bold red")
    line.append(message)
    stderr().print(line)


def note(message: str) -> None:
    stderr().print(Text(message, style="dim"))


def say(message: str) -> None:
    stdout().print(Text(message), soft_wrap=True)


def lines(*parts: tuple[str, Any]) -> None:
    """``label: value`` lines on stdout."""
    console = stdout()
    for label, value in parts:
        line = Text(f"{label}: ", style="bold")
        line.append(_plain(value))
        console.print(line, soft_wrap=True)


# ------------------------------------------------------------ values


def _plain(value: Any) -> str:
    if value is None or value == "":
        return NONE
    return str(value)


def when(value: str | None) -> str:
    """An API timestamp as ``2026-11-27 09:00:01Z``."""
    if not value:
        return NONE
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def state(status: str) -> Text:
    return Text(status, style=_STATE_STYLES.get(status, ""))


def no_deliveries(event: Json) -> Text:
    """Why an event has no deliveries: it went to no endpoint, or its workflow has not yet
    found the endpoints it goes to."""
    if event.get("endpoints_resolved", True):
        return Text("no endpoint subscribed", style="dim")
    return Text("waiting for a worker", style="dim")


def delivery_summary(event: Json) -> Text:
    """Per-state counts, e.g. ``2 delivered, 1 failed``."""
    counts = Counter(str(delivery.get("status")) for delivery in event.get("deliveries", []))
    if not counts:
        return no_deliveries(event)
    order = [*DELIVERY_STATES, *sorted(set(counts) - set(DELIVERY_STATES))]
    summary = Text()
    for name in order:
        if counts[name]:
            if summary:
                summary.append(", ")
            summary.append(f"{counts[name]} {name}", style=_STATE_STYLES.get(name, ""))
    return summary


def endpoint_events(event_types: list[str]) -> str:
    return ", ".join(event_types) if event_types else "all"


def endpoint_status(endpoint: Json) -> Text:
    if not endpoint.get("disabled"):
        return Text("enabled", style="green")
    status = Text("disabled", style="red")
    reason = endpoint.get("disabled_reason")
    if reason:
        status.append(f" ({reason})")
    return status


def success_rate(endpoint: Json) -> str:
    rate = endpoint.get("success_rate_24h")
    if rate is None:
        return NONE
    attempts = endpoint.get("attempts_24h", 0)
    return f"{rate * 100:.1f}% of {attempts}"


# ------------------------------------------------------------ tables


def _attempt_detail(attempt: Json) -> str:
    """Why an attempt failed: its error, or else the start of the receiver's answer."""
    if attempt.get("error"):
        return str(attempt["error"])
    body = " ".join(str(attempt.get("response_body") or "").split())
    if attempt.get("outcome") == "succeeded" or not body:
        return NONE
    return body if len(body) <= 80 else body[:79] + "…"


def events_table(events: list[Json]) -> Table:
    table = Table(title="Events", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("created")
    table.add_column("deliveries", min_width=12)
    for event in events:
        table.add_row(
            Text(event["id"]),
            Text(event["type"]),
            when(event.get("created_at")),
            delivery_summary(event),
        )
    return table


def endpoints_table(endpoints: list[Json]) -> Table:
    table = Table(title="Endpoints", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("url", overflow="fold")
    table.add_column("events")
    table.add_column("status")
    table.add_column("success 24h", justify="right", no_wrap=True)
    for endpoint in endpoints:
        table.add_row(
            Text(endpoint["id"]),
            Text(endpoint["url"]),
            Text(endpoint_events(endpoint.get("event_types", []))),
            endpoint_status(endpoint),
            success_rate(endpoint),
        )
    return table


def deliveries_table(deliveries: list[Json]) -> Table:
    table = Table(title="Deliveries", title_justify="left")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("attempts", justify="right")
    table.add_column("last status", justify="right")
    table.add_column("last error")
    table.add_column("next attempt", no_wrap=True)
    for delivery in deliveries:
        table.add_row(
            Text(delivery["endpoint_id"]),
            state(str(delivery.get("status"))),
            str(delivery.get("attempts", 0)),
            _plain(delivery.get("last_status_code")),
            Text(_plain(delivery.get("last_error"))),
            when(delivery.get("next_attempt_at")),
        )
    return table


def attempts_table(attempts: list[Json]) -> Table:
    table = Table(title="Attempts (newest first)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("status", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("error or response")
    for attempt in attempts:
        outcome = str(attempt.get("outcome"))
        table.add_row(
            str(attempt.get("attempt")),
            Text(attempt["endpoint_id"]),
            when(attempt.get("started_at")),
            Text(outcome, style="green" if outcome == "succeeded" else "red"),
            _plain(attempt.get("status_code")),
            f"{attempt.get('duration_ms', 0):.0f}",
            Text(_attempt_detail(attempt)),
        )
    return table


def event_view(event: Json, attempts: list[Json]) -> RenderableType:
    """An event: what it is, its payload, its deliveries per endpoint and its attempts."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("event", Text(event["id"]))
    facts.add_row("type", Text(event["type"]))
    facts.add_row("created", when(event.get("created_at")))
    facts.add_row("idempotency key", Text(_plain(event.get("idempotency_key"))))
    facts.add_row("workflow", Text(_plain(event.get("workflow_id"))))
    facts.add_row("workflow url", Text(_plain(event.get("workflow_url"))))
    facts.add_row("data", Text(json.dumps(event.get("data", {}), indent=2, ensure_ascii=False)))
    deliveries: list[Json] = event.get("deliveries", [])
    parts: list[RenderableType] = [facts, Text()]
    if deliveries:
        parts.append(deliveries_table(deliveries))
    else:
        parts.append(no_deliveries(event))
    parts.append(Text())
    if attempts:
        parts.append(attempts_table(attempts))
    else:
        parts.append(Text("No attempts yet.", style="dim"))
    return Group(*parts)
