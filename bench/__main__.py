"""``python -m bench``: run the benchmark, write the JSON, the chart and docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import shutil
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import devstack
from bench.chart import write_chart
from bench.report import render_markdown, render_summary
from bench.run import Options, run_bench
from core.config import PROJECT_ROOT

logger = logging.getLogger("bench")

DOCS = PROJECT_ROOT / "docs"
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results" / "latest.json"

_Result = TypeVar("_Result")


def _fanouts(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def parse(arguments: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a small run, under two minutes; leaves docs/ alone"
    )
    parser.add_argument("--fanouts", type=_fanouts, default=[1, 3, 30], help="e.g. 1,3,30")
    parser.add_argument("--duration", type=float, default=None, help="seconds per workload")
    parser.add_argument(
        "--workers",
        type=devstack.positive,
        default=devstack.WORKERS,
        help=f"worker processes (default {devstack.WORKERS}, as make run)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="burst emitters")
    parser.add_argument("--profile", action="store_true", help="py-spy the K=3 burst")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON")
    parser.add_argument("--note", default=None, help="a caveat printed with the results")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL database for the store, e.g. postgresql://postgres@127.0.0.1/test: "
        "the run makes a schema of its own there and drops it after (default: SQLite, as "
        "make run)",
    )
    parser.add_argument(
        "--throughput-only", action="store_true", help="skip retry precision and the backlog"
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="only the pipeline's workloads (no baselines, retry precision, backlog or docs)",
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="report beside --out only, not in docs/benchmarks.*"
    )
    return parser.parse_args(arguments)


def _make_command(arguments: str) -> str:
    """The ``make bench`` line that passes these arguments, quoted as a person would."""
    if any(character in arguments for character in '"$`\\'):
        return f"make bench BENCH_ARGS={shlex.quote(arguments)}"
    return (
        f'make bench BENCH_ARGS="{arguments}"'
        if " " in arguments
        else f"make bench BENCH_ARGS={arguments}"
    )


def options_from(arguments: argparse.Namespace, argv: list[str]) -> Options:
    quick: bool = arguments.quick
    duration = arguments.duration or (2.0 if quick else 30.0)
    make_args = shlex.join(argv)
    return Options(
        fanouts=arguments.fanouts,
        duration=duration,
        workers=arguments.workers,
        concurrency=arguments.concurrency,
        quick=quick,
        profile=arguments.profile,
        results_dir=arguments.out.parent,
        retry_events=3 if quick else 10,
        backlog_deliveries=1_000 if quick else 10_000,
        backlog_flat_seconds=3.0 if quick else 10.0,
        # Paced baselines are the latency comparison at equal load; quick skips them.
        baseline_paced=not quick,
        command=_make_command(make_args) if argv else "make bench",
        throughput_only=arguments.throughput_only,
        pipeline_only=arguments.pipeline_only,
        note=arguments.note,
        database_url=arguments.database_url,
        options={
            "quick": quick,
            "fanouts": arguments.fanouts,
            "duration_s": duration,
            "workers": arguments.workers,
            "concurrency": arguments.concurrency,
            "profile": arguments.profile,
            "pipeline_only": arguments.pipeline_only,
            "store": "postgresql" if arguments.database_url else "sqlite",
        },
    )


async def stopped_by_sigterm(work: Coroutine[Any, Any, _Result]) -> _Result:
    """``work``, cancelled on SIGTERM as Ctrl-C cancels it: its ``finally`` blocks then stop
    the processes it started, which run in sessions of their own and would outlive it."""
    task = asyncio.ensure_future(work)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await task


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # A line per request would cost the driver more than the requests.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.chdir(PROJECT_ROOT)
    argv = sys.argv[1:]
    arguments = parse(argv)
    try:
        results = asyncio.run(stopped_by_sigterm(run_bench(options_from(arguments, argv))))
    except asyncio.CancelledError:
        sys.exit("the bench was stopped; the processes it started were stopped too")
    out: Path = arguments.out
    write_report(results, out)
    print(render_summary(results))  # noqa: T201 - the run's answer, for whoever ran it
    if not records_docs(arguments):
        logger.info("results in %s, the report in %s", out, out.with_suffix(".md"))
        return
    write_report(results, DOCS / "benchmarks.json", chart_drawn=out.with_suffix(".png"))
    logger.info("results in %s; docs/benchmarks.md and docs/benchmarks.png written", out)


def records_docs(arguments: argparse.Namespace) -> bool:
    """A quick or pipeline-only run is a check, and one on PostgreSQL a comparison, not the
    record of the system as ``make run`` starts it: they leave the docs alone."""
    return not (
        arguments.no_docs or arguments.quick or arguments.pipeline_only or arguments.database_url
    )


def write_report(
    results: dict[str, Any], json_path: Path, *, chart_drawn: Path | None = None
) -> None:
    """The results as JSON, with the Markdown report and the chart beside them.

    ``chart_drawn`` is the same results' chart already drawn elsewhere: copying it saves
    drawing it twice."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    chart = json_path.with_suffix(".png")
    if chart_drawn is None:
        write_chart(results, chart)
    else:
        shutil.copyfile(chart_drawn, chart)
    json_path.with_suffix(".md").write_text(
        render_markdown(results, json_name=json_path.name, chart=chart.name)
    )


if __name__ == "__main__":
    main()
