"""The scripted gap-loop demo, with the fake encoder: gaps before, answered after."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from eval import demo_loop
from eval.demo_loop_data import DIGITAL_RMB, INTENTS
from eval.demo_loop_report import render, to_json
from kb.settings import Settings

WALLET_QUERIES = {q for q, _ in DIGITAL_RMB.asked}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> demo_loop.DemoReport:
    untouched = tmp_path_factory.mktemp("configured") / "data"
    settings = Settings(data_dir=untouched, database_url="", encoder="fake")
    # The fake encoder's hashed n-grams are far less similar than e5's vectors: 0.5, not 0.9.
    found = demo_loop.run_demo(settings, threshold=0.5)
    assert not untouched.exists()  # the configured data directory was never written
    return found


def test_the_wallet_questions_are_gaps_before(report: demo_loop.DemoReport) -> None:
    asked = {q for intent in INTENTS for q, _ in intent.asked}
    assert [o.query for o in report.before] == [q for i in INTENTS for q, _ in i.asked]
    assert {o.query for o in report.before} == asked
    wallet = [o for o in report.before if o.query in WALLET_QUERIES]
    assert [o.answered for o in wallet] == [False] * len(WALLET_QUERIES)
    biggest = report.clusters_before[0]
    assert set(biggest.queries) == WALLET_QUERIES
    assert biggest.volume == sum(n for _, n in DIGITAL_RMB.asked) == 11
    assert biggest.name in WALLET_QUERIES
    assert all(not set(c.queries) & WALLET_QUERIES for c in report.clusters_before[1:])


def test_the_biggest_gap_goes_through_review_and_answers_them(
    report: demo_loop.DemoReport,
) -> None:
    assert (report.intent, report.code) == ("数字人民币", "YH-SJ-901")
    assert [state for _, state in report.steps] == ["draft", "in_review", "published"]
    assert {o.query for o in report.after} == WALLET_QUERIES
    assert [(o.top_code, o.answered) for o in report.after] == [("YH-SJ-901", True)] * 7
    assert report.answered_after() == 7
    assert all(o.confidence >= report.abstain_below for o in report.after)
    # Searches made after publishing leave the other intents as gaps, this one closed.
    remaining = {q for c in report.clusters_after for q in c.queries}
    assert not remaining & WALLET_QUERIES
    assert {"智能手表怎么开通一号双终端", "以旧换新怎么估价"} <= remaining


def test_the_report_prints_before_and_after(report: demo_loop.DemoReport) -> None:
    out = io.StringIO()
    render(report, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "1. Customers ask questions the demo KB cannot answer" in text
    assert "demo-reviewer approves it" in text and "→ published" in text
    assert "7 of 7 questions of gap #1 are now answered by YH-SJ-901 at top-1" in text
    data = json.loads(json.dumps(to_json(report), ensure_ascii=False, default=str))
    assert data["answered_after"] == 7 and data["code"] == "YH-SJ-901"


def test_the_command_refuses_an_unknown_encoder(tmp_path: Path) -> None:
    import typer

    app = typer.Typer()
    app.command()(demo_loop.main)
    result = CliRunner().invoke(app, ["--encoder", "bert"])
    assert result.exit_code == 2
    assert "ZHIKU_ENCODER='bert' is not supported" in result.output
