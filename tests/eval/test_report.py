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
        "risk_coverage.png",
    ]
    for name in ("latency.png", "metrics_by_mode.png", "reliability.png", "risk_coverage.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000
    runs = load_results(tmp_path / "out" / "results.json")
    assert [r["mode"] for r in runs] == ["bm25", "dense", "hybrid"]
    assert runs[0]["metrics"]["mrr@10"]["value"] == records[0]["metrics"]["mrr@10"]["value"]
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| toy | hybrid |" in md
    assert "![metrics_by_mode](metrics_by_mode.png)" in md
    assert "5 entries (1 held out of the index)" in md
    floor = records[2]["calibration"]["ece_if_calibrated"]
    assert "ECE if calibrated (mean / p95)" in md
    assert f"{floor['mean']:.3f} / {floor['p95']:.3f}" in md  # beside the hybrid run's ECE
    _tables_are_rectangular(md)


@pytest.mark.parametrize("shown", [0, 3])
def test_the_report_says_which_queries_were_confirmed(tmp_path: Path, shown: int) -> None:
    config = RunConfig(holdout=0.2, modes=("hybrid",), confirm_share=0.75, confirm_shown=shown)
    md = _report_saying(tmp_path, config, "confirmed", confirmed_queries=2)
    assert "2 more queries were confirmed into the KB's golden set" in md
    assert ("only those a first build showed in its top 3" in md) == bool(shown)
    _tables_are_rectangular(md)


def _report_saying(tmp_path: Path, config: RunConfig, given: str, **counts: int) -> str:
    """report.md of a toy run under ``config`` whose build was ``given`` queries (the fake KB
    counts none of them: ``counts`` says how many it took)."""

    def taking_kb(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop(given, None)
        return fake_kb(*args, **kwargs)

    records = evaluate(
        load_dataset(write_toy(tmp_path / "toy")),
        config,
        settings=Settings(encoder="fake"),
        open_kb=taking_kb,
        console=Console(file=StringIO()),
    )
    for r in records:
        r["dataset"].update(counts)
    report.write(records, tmp_path / "out")
    return (tmp_path / "out" / "report.md").read_text(encoding="utf-8")


def _tables_are_rectangular(md: str) -> None:
    """Every table row has as many cells as its header (the line above a table's first)."""
    width = 0
    previous = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                width = line.count("|")
            assert line.count("|") == width, line
        previous = line


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
    assert result["only_in_a"] == [["toy", "full", "bm25"]]
    assert result["only_in_b"] == []
    dense, hybrid = result["compared"]
    assert (dense["mode"], dense["variant"]) == ("dense", "full")
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


@pytest.fixture
def ablated(tmp_path: Path) -> list[dict[str, Any]]:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    return evaluate(
        dataset,
        RunConfig(holdout=0.0, modes=("bm25", "hybrid"), ablate=True, baselines=True),
        settings=Settings(encoder="fake"),
        open_kb=fake_kb,
        console=Console(file=StringIO()),
    )


def _section(md: str, first_line: str) -> list[str]:
    """The Markdown table that follows the line starting with ``first_line``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_line))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append(line)
    return table


def test_report_has_confidence_per_channel_and_the_ablation_table(
    tmp_path: Path, ablated: list[dict[str, Any]]
) -> None:
    written = report.write(ablated, tmp_path / "out")
    assert (tmp_path / "out" / "ablation.png").read_bytes().startswith(PNG)
    assert "ablation.png" in written
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    _tables_are_rectangular(md)
    assert "- Confidence: fixed for tests; thresholds agent 0.50, customer 0.70." in md
    assert "embedding cache 7 hits, 2 misses" in md
    channels = _section(md, "Confidence per channel")
    assert channels[2:] == [
        "| bm25 | agent | 0.50 | 0.750 | 0.250 | 0.333 | 0.000 | – | 0.250 |",
        "| bm25 | customer | 0.70 | 0.500 | 0.000 | 0.000 | 0.000 | – | 0.500 |",
        "| hybrid | agent | 0.50 | 0.750 | 0.250 | 0.333 | 0.000 | – | 0.250 |",
        "| hybrid | customer | 0.70 | 0.500 | 0.000 | 0.000 | 0.000 | – | 0.500 |",
    ]
    assert _section(md, "Reliability of the top suggestion's confidence, hybrid")[2:] == [
        "| 0.6–0.7 | 1 | 0.600 | 0.000 |",
        "| 0.9–1.0 | 2 | 0.925 | 1.000 |",
    ]
    ablation = _section(md, "Ablation (hybrid")
    assert [row.split(" | ")[0] for row in ablation[2:]] == [
        "| full",
        "| -entry",
        "| -body",
        "| -latent",
        "| -reranker",
        "| -selftune",
        "| words-only",
        "| -pinyin",
    ]
    # the fake without a reranker ranks q1's entry second: per-query MRR differences
    # -1/2, 0, 0, 0, paired
    full = next(r for r in ablated if r["variant"] == "full" and r["mode"] == "hybrid")
    variant = next(r for r in ablated if r["variant"] == "-reranker")
    d = difference(
        {q["qid"]: q["metrics"]["mrr@10"] for q in full["queries"]},
        {q["qid"]: q["metrics"]["mrr@10"] for q in variant["queries"]},
        seed=0,
    )
    assert d["diff"] == -0.125 and d["paired"] is True
    low, high = d["ci"]
    assert ablation[6] == (
        f"| -reranker | {report.fmt_ci(variant['metrics']['mrr@10'])} | 0.250 | 0.750 | "
        f"-0.125 [{low:+.3f}, {high:+.3f}] | 0.5 | – |"
    )
    assert ablation[3].endswith("| +0.000 [+0.000, +0.000] | 0.5 | – |")  # -entry: same ranking
    metrics_rows = _section(md, "Metrics with 95% bootstrap intervals")
    assert [row.split(" | ")[0] for row in metrics_rows[2:]] == [
        "| Zhiku bm25",
        "| Zhiku hybrid",
        "| baseline: jieba + rank_bm25, question + answer",
        "| baseline: e5 + FAISS, one question + answer passage",
        "| baseline: LangChain EnsembleRetriever (RRF 0.5 / 0.5, c 60)",
    ]
    document = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    rows = document["ablation"]["toy"]
    assert [r["variant"] for r in rows][:5] == ["full", "-entry", "-body", "-latent", "-reranker"]
    assert rows[4]["diff"] == -0.125 and rows[4]["ci"] == [low, high]


def test_summary_labels_variants_and_baselines(ablated: list[dict[str, Any]]) -> None:
    assert [row[1] for row in report.summary_rows(ablated)] == [
        "bm25",
        "hybrid",
        "hybrid -entry",
        "hybrid -body",
        "hybrid -latent",
        "hybrid -reranker",
        "hybrid -selftune",
        "hybrid words-only",
        "hybrid -pinyin",
        "baseline rank_bm25",
        "baseline e5_faiss",
        "baseline ensemble",
    ]


def test_compare_keys_runs_by_variant_too(ablated: list[dict[str, Any]]) -> None:
    older = copy.deepcopy([r for r in ablated if r["variant"] == "full"])
    for r in older:  # a results file from before variants existed
        del r["variant"]
    result = compare(older, ablated)
    assert [(p["variant"], p["mode"]) for p in result["compared"]] == [
        ("full", "bm25"),
        ("full", "hybrid"),
    ]
    assert result["only_in_b"][:2] == [["toy", "-entry", "hybrid"], ["toy", "-body", "hybrid"]]
    assert result["only_in_b"][-1] == ["toy", "baseline", "ensemble"]
    itself = compare(ablated, ablated)
    assert len(itself["compared"]) == len(ablated) and not itself["only_in_a"]


def test_the_report_says_how_many_queries_were_logged(tmp_path: Path) -> None:
    config = RunConfig(holdout=0.0, modes=("hybrid",), log_share=0.5)
    md = _report_saying(tmp_path, config, "logged", logged_queries=2)
    assert "2 more queries were logged (without their answers) before the build" in md
    assert "(`--log-share`)" in md


def test_the_reliability_chart_says_what_chance_alone_would_show(
    records: list[dict[str, Any]],
) -> None:
    from eval.charts import reliability_label

    hybrid = records[2]
    floor = hybrid["calibration"]["ece_if_calibrated"]
    assert reliability_label(hybrid) == (
        f"hybrid (ECE {hybrid['calibration']['ece']:.3f}, by chance < {floor['p95']:.3f})"
    )
    older = {**hybrid, "calibration": {"bins": [], "ece": 0.1}}  # a results file from before
    assert reliability_label(older) == "hybrid (ECE 0.100)"
