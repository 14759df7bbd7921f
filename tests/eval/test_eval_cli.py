"""``kb eval``, ``kb eval compare`` and ``kb hit-test`` at the command line."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from eval import report
from eval.datasets import load_dataset
from eval.runner import RunConfig, evaluate
from kb.settings import Settings
from tests.eval.toy import fake_kb, write_toy


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    return CliRunner()


def test_eval_help_shows_the_benchmark_and_an_example(runner: CliRunner) -> None:
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    assert "DATASETS" in result.output.upper()
    assert "Example: kb eval" in result.output
    assert "kb eval compare" in result.output


def test_invalid_dataset_is_one_message_before_any_work(runner: CliRunner, tmp_path: Path) -> None:
    toy = write_toy(tmp_path / "toy")
    (toy / "queries.jsonl").write_text('{"qid": "q1", "query": "x", "relevant": ["e9"]}\n')
    result = runner.invoke(app, ["eval", str(toy), "--mode", "bm25"])
    assert result.exit_code == 1
    assert "错误 error: Dataset" in result.output
    assert "queries.jsonl:1: relevant: unknown entry id(s) ['e9']" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # the user's KB is never touched


def test_unknown_mode_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(write_toy(tmp_path / "toy")), "--mode", "bm52"])
    assert result.exit_code == 2
    assert "use one of bm25, dense, hybrid or all" in result.output


def test_ablation_needs_the_hybrid_run_to_compare_with(runner: CliRunner, tmp_path: Path) -> None:
    toy = write_toy(tmp_path / "toy")
    result = runner.invoke(app, ["eval", str(toy), "--mode", "bm25", "--ablate"])
    assert result.exit_code == 2
    assert "use --mode hybrid or --mode all" in result.output
    assert not (tmp_path / "data").exists()


def _results(tmp_path: Path, seed: int, **config: Any) -> Path:
    dataset = load_dataset(write_toy(tmp_path / f"toy{seed}"))
    records = evaluate(
        dataset,
        RunConfig(**{"holdout": 0.0, "seed": seed, "modes": ("bm25",), **config}),
        settings=Settings(encoder="fake"),
        open_kb=fake_kb,
        console=Console(file=StringIO()),
    )
    for r in records:
        r["dataset"]["name"] = "toy"
    return report.write(records, tmp_path / f"out{seed}")["json"]


def test_compare_prints_differences(runner: CliRunner, tmp_path: Path) -> None:
    a, b = _results(tmp_path, 1), _results(tmp_path, 2)
    result = runner.invoke(app, ["eval", "compare", str(a), str(b)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "toy · bm25" in result.output
    assert "mrr@10" in result.output and "no clear difference" in result.output
    as_json = runner.invoke(app, ["eval", "compare", str(a), str(b), "--json"])
    data = json.loads(as_json.stdout)
    (pair,) = data["compared"]
    assert pair["metrics"][0]["diff"] == 0.0  # same rankings, same queries


def test_compare_names_variants(runner: CliRunner, tmp_path: Path) -> None:
    a = _results(tmp_path, 1)
    b = _results(tmp_path, 2, modes=("bm25", "hybrid"), ablate=True)
    result = runner.invoke(app, ["eval", "compare", str(a), str(b)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "toy · bm25" in result.output
    assert "only in b: toy · hybrid\n" in result.output
    assert "only in b: toy · hybrid · -reranker" in result.output


def test_compare_of_a_missing_file_says_what_to_do(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    )
    assert result.exit_code == 1
    assert "run `kb eval DATASET --out DIR` first" in result.output
