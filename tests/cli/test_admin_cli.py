from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from cli.context import database_trouble
from cli.main import app
from kb.db import ADDED_COLUMNS, open_database
from kb.models import (
    ChangeCounter,
    ChangeFeedEntry,
    HandoffMessage,
    HandoffRequest,
    SchemaVersion,
)
from tests.factories import make_table


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    return CliRunner()


def test_stats_before_init_says_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1
    assert "run `kb init` first" in result.output
    assert "Traceback" not in result.output


def test_a_database_that_cannot_be_used_is_one_line(runner: CliRunner, tmp_path: Path) -> None:
    """A file that is no database, or one locked past the busy timeout: SQLAlchemy tracebacks."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "zhiku.db").write_bytes(b"not a database, just some bytes" * 100)
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == (
        "错误 error: the database cannot be used (file is not a database); check "
        "ZHIKU_DATABASE_URL or the data directory (`kb init` makes a new database).\n"
    )
    locked = OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))
    assert database_trouble(locked) == (
        "the database is busy (database is locked): another process is writing; try again shortly."
    )
    assert database_trouble(ValueError("not the database's")) is None


def test_init_refuses_a_database_holding_another_applications_tables(
    runner: CliRunner, tmp_path: Path
) -> None:
    """It said "Database ready" and every command after failed on the foreign users table."""
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "zhiku.db") as foreign:
        foreign.execute("CREATE TABLE users (uid INTEGER PRIMARY KEY, email TEXT)")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "already holds tables named as Zhiku's (users)" in result.stderr


def test_init_then_stats_json(runner: CliRunner) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["tables"] == 0 and data["categories"] == 0


def test_bad_setting_is_one_line(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKU_ENCODER", "word2vec")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 1
    assert "ZHIKU_ENCODER='word2vec' is not supported" in result.output


@pytest.mark.parametrize("version", [1, 2, 3])
def test_init_upgrades_an_older_database_in_place(
    runner: CliRunner, tmp_path: Path, version: int
) -> None:
    """`kb init` on a database an earlier Zhiku made: the missing tables and columns are added,
    the data stays, and every other command then opens it."""
    assert runner.invoke(app, ["init"]).exit_code == 0
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with db.transaction() as session:
        make_table(session)
        session.execute(update(SchemaVersion).values(version=version))
    for model in (ChangeFeedEntry, ChangeCounter):  # 3 → 4
        model.__table__.drop(db.engine)  # type: ignore[attr-defined]
    with db.engine.begin() as conn:
        for table, column in ADDED_COLUMNS if version < 3 else ():
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    if version == 1:
        for model in (HandoffMessage, HandoffRequest):
            model.__table__.drop(db.engine)  # type: ignore[attr-defined]
    db.dispose()
    refused = runner.invoke(app, ["stats"])
    assert refused.exit_code == 1
    assert f"schema version is {version}, this Zhiku needs 4" in refused.output
    assert "`kb init` upgrades it in place" in refused.output  # not: export, reset, import

    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tables"] == 1
    revisions = runner.invoke(app, ["revisions", "TX-GH-001", "--json"])
    assert revisions.exit_code == 0, revisions.output
    assert [r["revision"] for r in json.loads(revisions.stdout)] == [1]


def test_a_port_out_of_range_is_refused_by_name(runner: CliRunner) -> None:
    """It loaded the app, then failed to bind with an OverflowError traceback."""
    result = runner.invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--port" in result.output and "65535" in result.output


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_an_index_it_cannot_read_in_one_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """Each worker's startup printed a traceback, and with two workers it exited 0."""
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["index", "build"]).exit_code == 0
    params = tmp_path / "data" / "index" / "params.json"
    stale = json.loads(params.read_text(encoding="utf-8")) | {"format_version": 1}
    params.write_text(json.dumps(stale), encoding="utf-8")
    result = runner.invoke(app, ["serve", "--port", "18765", "--workers", workers])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "has format version 1" in result.stderr and "kb index build" in result.stderr
