"""Report files and run comparison, from runs of the toy dataset with fixed rankings."""

from __future__ import annotations

import copy
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from eval import report
from eval.compare import compare, difference, load_results, verdict
from eval.datasets import load_dataset
from eval.errors import ResultsInvalid
from eval.runner import RunConfig, evaluate
from kb.settings import Settings
from tests.eval.toy import fake_kb, write_toy

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def records(tmp_path: Path) -> list[dict[str, Any]]:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    return evaluate(
        dataset,
        RunConfig(holdout=0.2, seed=1),
        settings=Settings(encoder="fake"),
        open_kb=fake_kb,
        console=Console(file=StringIO()),
    )


def test_write_makes_json_markdown_and_charts(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    written = report.write(records, tmp_path / "out")
    assert sorted(p.name for p in written.values()) == [
        "latency.png",
        "metrics_by_mode.png",
        "reliability.png",
        "report.md",
        "results.json",
    ]
    for name in ("latency.png", "metrics_by_mode.png", "reliability.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
    runs = load_results(tmp_path / "out" / "results.json")
    assert [r["mode"] for r in runs] == ["bm25", "dense", "hybrid"]
    assert runs[0]["metrics"]["mrr@10"]["value"] == records[0]["metrics"]["mrr@10"]["value"]
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| toy | hybrid |" in md
    assert "![metrics_by_mode](metrics_by_mode.png)" in md
    assert "5 entries (1 held out of the index)" in md
    for line in md.splitlines():  # every table row has as many cells as its header
        if line.startswith("| mode |"):
            width = line.count("|")
        elif line.startswith("| ") and not line.startswith("| dataset |") and "toy" not in line:
            assert line.count("|") == width, line


def test_summary_rows_round_for_people(records: list[dict[str, Any]]) -> None:
    row = report.summary_rows(records)[0]
    assert row[:2] == ["toy", "bm25"]
    assert len(row) == len(report.SUMMARY_COLUMNS)
    assert row[2] == f"{records[0]['metrics']['mrr@10']['value']:.3f}"


def test_paired_difference_has_exact_mean_and_interval() -> None:
    a = {"q1": 0.0, "q2": 1.0, "q3": 0.5}
    b = {"q1": 1.0, "q2": 1.0, "q3": 1.0}
    got = difference(a, b, seed=0)
    assert got["paired"] is True
    assert got["a"] == 0.5 and got["b"] == 1.0 and got["diff"] == 0.5
    # per-query differences are 1, 0, 0.5: resampled means stay within [0, 1]
    low, high = got["ci"]
    assert 0.0 <= low < 0.5 < high <= 1.0
    assert difference(a, {"q1": 1.0, "q9": 0.0}, seed=0)["paired"] is False


def test_verdicts() -> None:
    assert verdict("mrr@10", (0.01, 0.05)) == "B better"
    assert verdict("mrr@10", (-0.05, -0.01)) == "B worse"
    assert verdict("mrr@10", (-0.01, 0.02)) == "no clear difference"
    assert verdict("hard_negative", (-0.05, -0.01)) == "B better"
    assert verdict("mrr@10", None) == "n/a"


def test_compare_matches_runs_by_dataset_and_mode(records: list[dict[str, Any]]) -> None:
    better = copy.deepcopy(records)
    for q in better[2]["queries"]:  # hybrid: every answerable query found first
        if q["metrics"] is not None:
            q["metrics"]["mrr@10"] = 1.0
    result = compare(records, better[1:])
    assert result["only_in_a"] == [["toy", "bm25"]]
    assert result["only_in_b"] == []
    dense, hybrid = result["compared"]
    assert dense["mode"] == "dense"
    assert {row["verdict"] for row in dense["metrics"]} <= {"no clear difference", "n/a"}
    row = next(r for r in hybrid["metrics"] if r["metric"] == "mrr@10")
    before = records[2]["metrics"]["mrr@10"]["value"]
    assert row["a"] == pytest.approx(before) and row["b"] == 1.0
    assert row["diff"] == pytest.approx(1.0 - before) and row["paired"] is True


def test_load_results_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"runs": []}), encoding="utf-8")
    with pytest.raises(ResultsInvalid, match="is not a `kb eval` results file"):
        load_results(tmp_path / "x.json")
    with pytest.raises(ResultsInvalid, match="run `kb eval DATASET --out DIR` first"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(ResultsInvalid, match="not a JSON results file"):
        load_results(tmp_path / "bad.json")
