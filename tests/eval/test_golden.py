"""``kb eval --golden``: the golden set against a copy of the whole KB (fake encoder)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from eval.snapshot import copy_rows
from kb import golden, tables, users
from kb.db import Database, drop_schema, open_database
from kb.models import ApiToken, GoldenQuery, KnowledgeTable, Revision
from tests.eval.toy import write_toy
from tests.factories import make_package, make_table

# Each golden query matches its table through a similar question only: neither its title nor
# its answer shares a word with it. An evaluation that re-imported titles and answers (the
# dataset export) would miss them; one that searches the KB itself finds them.
GOLDEN = [("宽带网络掉线了", "KD-001"), ("旧号停机后话费", "GH-001")]


def _fill(db_url: str) -> None:
    db = open_database(db_url, create=True)
    with db.transaction() as session:
        package = make_package(session)
        make_table(
            session,
            package,
            code="KD-001",
            title="家庭宽带故障报修",
            questions=["宽带网络掉线了怎么办"],
            fields={"answer": "拨打10000报修，工程师上门。"},
        )
        make_table(
            session,
            package,
            code="GH-001",
            title="改号后原号码是否还会产生话费",
            questions=["旧号停机后话费还扣吗"],
            fields={"answer": "改号完成后原号码停止计费。"},
        )
        make_table(
            session,
            package,
            code="TC-001",
            title="套餐变更规则",
            questions=["套餐怎么换"],
            fields={"answer": "次月生效。"},
        )
        users.issue_token(session, users.create_user(session, "rev1", "reviewer"))
    db.dispose()


@pytest.fixture
def kb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(data))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    _fill(f"sqlite:///{data / 'zhiku.db'}")
    return data


def _promote(data: Path) -> None:
    db = open_database(f"sqlite:///{data / 'zhiku.db'}")
    with db.transaction() as session:
        for query, code in GOLDEN:
            golden.promote(session, query, tables.get_table(session, code), actor="rev1")
    db.dispose()


def _state(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def test_golden_queries_search_the_whole_kb_which_stays_untouched(
    kb_dir: Path, tmp_path: Path
) -> None:
    _promote(kb_dir)
    before = _state(kb_dir)
    result = CliRunner().invoke(
        app, ["eval", "--golden", "--mode", "hybrid", "--json", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "golden set: 2 queries against the 3 live tables of a copy of the KB" in result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert run["dataset"]["name"] == "golden"
    assert run["dataset"]["entries"] == 3 and run["dataset"]["held_out_entries"] == 0
    assert run["metrics"]["recall@1"]["value"] == 1.0
    full = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    tops = {q["query"]: q["top"][0]["id"] for q in full["runs"][0]["queries"]}
    assert tops == dict(GOLDEN)
    assert _state(kb_dir) == before  # no index, cache or database change in the user's data
    assert not (kb_dir / "index").exists()


def test_golden_runs_beside_datasets_and_takes_a_holdout(kb_dir: Path, tmp_path: Path) -> None:
    _promote(kb_dir)
    toy = write_toy(tmp_path / "toy")
    args = ["eval", str(toy), "--golden", "--mode", "bm25", "--holdout", "0.34", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    toy_run, golden_run = json.loads(result.stdout)["runs"]
    assert (toy_run["dataset"]["name"], golden_run["dataset"]["name"]) == ("toy", "golden")
    assert golden_run["dataset"]["held_out_entries"] == 1  # round(0.34 × 3)
    held = golden_run["dataset"]["held_out_queries"]
    assert held + golden_run["dataset"]["answerable_queries"] == 2


def test_an_empty_golden_set_says_how_to_fill_it(kb_dir: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "--golden"])
    assert result.exit_code == 1
    assert "The golden set is empty" in result.output
    assert "kb golden add QUERY CODE --as USER" in result.output
    assert "Traceback" not in result.output


def test_golden_queries_whose_table_left_are_counted_out(kb_dir: Path) -> None:
    _promote(kb_dir)
    db = open_database(f"sqlite:///{kb_dir / 'zhiku.db'}")
    with db.transaction() as session:
        tables.get_table(session, "KD-001").live_revision_id = None  # archived
    db.dispose()
    result = CliRunner().invoke(app, ["eval", "--golden", "--mode", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    assert "1 queries against the 2 live tables" in result.stderr
    assert "(1 left out: their table is no longer live)" in result.stderr


def test_eval_needs_datasets_or_golden(kb_dir: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "--mode", "bm25"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "give dataset directories, or --golden" in result.output


def test_vote_noise_needs_votes(kb_dir: Path, tmp_path: Path) -> None:
    toy = write_toy(tmp_path / "toy")
    args = ["eval", str(toy), "--vote-noise", "0.5"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "add --simulate-votes SHARE" in result.output


def test_row_copy_keeps_the_kb_and_leaves_tokens_out(kb_dir: Path, tmp_path: Path) -> None:
    _promote(kb_dir)
    copy_rows(f"sqlite:///{kb_dir / 'zhiku.db'}", tmp_path / "copy.db")
    copy = open_database(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.session() as session:
        counts = [
            session.scalar(select(func.count()).select_from(model))
            for model in (KnowledgeTable, Revision, GoldenQuery, ApiToken)
        ]
        live = tables.get_table(session, "GH-001").live_revision
        broken = session.connection().exec_driver_sql("PRAGMA foreign_key_check").all()
    copy.dispose()
    assert counts == [3, 3, 2, 0]
    assert live is not None and live.questions == ["旧号停机后话费还扣吗"]
    assert broken == []


@pytest.mark.postgres
def test_row_copy_from_postgresql(postgres_url: str, tmp_path: Path) -> None:
    fresh = Database(postgres_url)
    drop_schema(fresh.engine)
    fresh.dispose()
    _fill(postgres_url)
    copy_rows(postgres_url, tmp_path / "copy.db")
    copy = open_database(f"sqlite:///{tmp_path / 'copy.db'}")
    with copy.session() as session:
        titles = sorted(t.live_revision.title for t in session.scalars(select(KnowledgeTable)))
        tokens = session.scalar(select(func.count()).select_from(ApiToken))
    copy.dispose()
    assert titles == ["套餐变更规则", "家庭宽带故障报修", "改号后原号码是否还会产生话费"]
    assert tokens == 0


def test_the_kb_index_learns_from_the_golden_set_and_eval_never_from_what_it_measures(
    kb_dir: Path,
) -> None:
    from indexer.service import SearchService
    from kb.settings import Settings

    _promote(kb_dir)
    settings = Settings()
    db = open_database(settings.resolved_database_url)
    try:
        # the KB's own build: the golden set is self-tuning's confirmed queries
        built = SearchService.build(settings, db)
        assert built.index.tuning["pseudo_queries"]["confirmed"] == len(GOLDEN)
        assert sorted(q for q, _ in built.index.confirmed) == sorted(q for q, _ in GOLDEN)
    finally:
        db.dispose()
    # kb eval --golden measures those queries: its copy is tuned without them
    result = CliRunner().invoke(app, ["eval", "--golden", "--mode", "hybrid", "--json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert "confirmed" not in run["params"]["index"]["tuning"]["pseudo_queries"]
    assert run["dataset"]["confirmed_queries"] == 0
