"""A run judges itself against the targets, and reports where a person will read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import parse, records_docs, write_report
from bench.report import render_markdown, render_summary
from bench.targets import Verdict, verdicts
from tests.bench.test_bench_pieces import sample_results


def _run(
    *,
    pipeline_burst: float,
    floor_burst: float | None,
    paced: dict[str, float] | None,
    backlog_mib: tuple[float, float, float] | None = (120.0, 130.0, 130.2),
    waiting: int = 10_000,
) -> dict[str, Any]:
    workloads: list[dict[str, Any]] = [
        {"system": "pipeline", "fanout": 3, "mode": "burst", "deliveries_per_s": pipeline_burst}
    ]
    if floor_burst is not None:
        workloads.append(
            {"system": "floor", "fanout": 3, "mode": "burst", "deliveries_per_s": floor_burst}
        )
    if paced is not None:
        workloads.append(
            {
                "system": "pipeline",
                "fanout": 3,
                "mode": "paced-25",
                "e2e_ms": {"p50": paced["p50"], "p99": paced["p99"]},
                "emit_ms": {"p99": paced["emit_p99"]},
            }
        )
    results: dict[str, Any] = {"workloads": workloads}
    if backlog_mib is not None:
        before, after, later = backlog_mib
        results["backlog"] = {
            "deliveries_waiting": waiting,
            "rss_mib_before": {"worker": before},
            "rss_mib_after": {"worker": after},
            "rss_mib_later": {"worker": later},
            "later_after_s": 10.0,
        }
    return results


def _by_target(found: list[Verdict]) -> dict[str, Verdict]:
    return {verdict.target.split(":")[-1].strip(): verdict for verdict in found}


def test_every_target_met() -> None:
    found = verdicts(
        _run(
            pipeline_burst=160.0,
            floor_burst=100.0,
            paced={"p50": 40.0, "p99": 120.0, "emit_p99": 30.0},
        )
    )

    assert [verdict.met for verdict in found] == [True] * 5
    assert {verdict.verdict for verdict in found} == {"met"}


def test_a_missed_target_says_by_how_much() -> None:
    found = _by_target(
        verdicts(
            _run(
                pipeline_burst=65.0,
                floor_burst=100.0,
                paced={"p50": 53.25, "p99": 310.0, "emit_p99": 50.0},
                backlog_mib=(130.0, 144.0, 146.0),
            )
        )
    )

    floor = next(v for target, v in found.items() if "floor" in target)
    assert (floor.met, floor.verdict) == (False, "missed: 150.0 deliveries/s needed")
    assert floor.measured == "0.65 times (65.0 against 100.0 deliveries/s)"
    assert found["end-to-end p50 at most 50 ms"].verdict == "missed by 3.2 ms"
    assert found["end-to-end p99 at most 300 ms"].verdict == "missed by 10.0 ms"
    # At the limit is within it.
    assert found["emit p99 at most 50 ms"].met is True
    memory = next(v for target, v in found.items() if "RSS" in target)
    # 146 MiB is 153.1 MB, and 2 MiB more in 10 s is not flat.
    assert memory.met is False
    assert memory.verdict == "missed: over by 3.1 MB; grew 2.0 MiB while the deliveries waited"


def test_memory_is_judged_for_each_worker_process() -> None:
    results = _run(pipeline_burst=65.0, floor_burst=100.0, paced=None)
    results["backlog"] |= {
        "rss_mib_after": {"worker": 230.0},
        "worker_rss_mib_each": {
            "before": [100.0, 101.0],
            "after": [110.0, 120.0],
            "later": [110.2, 121.5],
        },
    }

    (memory,) = [verdict for verdict in verdicts(results) if "RSS" in verdict.target]

    # Neither process reaches 150 MB, though the two together do; one of them grew.
    assert memory.measured == (
        "each of 2 worker processes: 100.0 and 101.0 MiB before, 110.0 and 120.0 MiB (at "
        "most 127.4 MB) with 10,000 waiting, 110.2 and 121.5 MiB 10 s later; 230.0 MiB "
        "together"
    )
    assert (memory.met, memory.verdict) == (
        False,
        "missed: grew 1.5 MiB while the deliveries waited",
    )


def test_what_a_run_did_not_measure_is_not_judged() -> None:
    found = verdicts(_run(pipeline_burst=65.0, floor_burst=None, paced=None, waiting=1_000))

    assert [verdict.met for verdict in found] == [None] * 5
    assert found[0].verdict == "not measured: the run has no floor"
    assert found[-1].verdict == "not judged: 1,000 deliveries waited"


def test_the_report_and_the_summary_carry_the_verdicts() -> None:
    results = sample_results()
    floor = next(verdict for verdict in verdicts(results) if "floor" in verdict.target)

    for text in (render_markdown(results), render_summary(results)):
        assert "## Targets" in text
        assert f"| {floor.target} | {floor.measured} | {floor.verdict} |" in text


def test_the_report_sits_beside_its_results_and_links_them(tmp_path: Path) -> None:
    results = sample_results()
    write_report(results, tmp_path / "run.json")

    assert json.loads((tmp_path / "run.json").read_text()) == results
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")
    report = (tmp_path / "run.md").read_text()
    assert "([run.json](run.json))" in report
    assert "](run.png)" in report


def test_a_second_report_of_the_same_run_copies_its_chart(tmp_path: Path) -> None:
    drawn = tmp_path / "latest.png"
    drawn.write_bytes(b"\x89PNG the chart drawn for the first report")
    docs = tmp_path / "docs"

    write_report(sample_results(), docs / "benchmarks.json", chart_drawn=drawn)

    assert (docs / "benchmarks.png").read_bytes() == drawn.read_bytes()
    assert "([benchmarks.json](benchmarks.json))" in (docs / "benchmarks.md").read_text()


@pytest.mark.parametrize(
    ("arguments", "recorded"),
    [
        ([], True),
        (["--profile"], True),
        (["--quick"], False),
        (["--pipeline-only", "--fanouts", "3"], False),
        (["--no-docs"], False),
        (["--database-url", "postgresql://postgres@127.0.0.1/test"], False),
    ],
)
def test_only_a_full_run_replaces_the_documented_figures(
    arguments: list[str], recorded: bool
) -> None:
    assert records_docs(parse(arguments)) is recorded
