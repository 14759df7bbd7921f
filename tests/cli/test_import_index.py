"""The index after `kb import`, with the real indexer (fake encoder): a crash between the
import's commit and its index update is repaired by the next import or command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from indexer.service import SearchService
from tests.kb.content_files import GAIHAO, demo_dir, write


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHIKU_USER", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    return runner


def _drift(runner: CliRunner) -> dict[str, Any]:
    result = runner.invoke(app, ["index", "status", "--json"])
    assert result.exit_code == 0, result.output
    drift: dict[str, Any] = json.loads(result.stdout)["drift"]
    return drift


def test_reimport_repairs_an_index_left_stale_by_a_crash(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = demo_dir(tmp_path / "content")
    assert runner.invoke(app, ["import", str(content)]).exit_code == 0
    assert runner.invoke(app, ["index", "build"]).exit_code == 0
    write(content / "通信业务" / "改号业务.yaml", GAIHAO.replace("原件到营业厅", "到营业厅"))

    def crash(self: SearchService, *args: Any, **kwargs: Any) -> None:
        raise OSError("killed while the index was being written")

    with monkeypatch.context() as patch:
        patch.setattr(SearchService, "sync", crash)
        crashed = runner.invoke(app, ["import", str(content)])
    assert crashed.exit_code == 0  # the import itself is committed
    assert _drift(runner)["tables_to_update"] == 1

    again = runner.invoke(app, ["import", str(content)])
    assert again.exit_code == 0, again.output
    assert "0 revised" in again.stdout  # nothing new to import, but the index catches up
    assert _drift(runner) == {
        "tables_to_update": 0,
        "tables_to_remove": 0,
        "dictionary_changed": False,
    }
    status = json.loads(runner.invoke(app, ["index", "status", "--json"]).stdout)
    assert status["labels_since_tuning"] == {"new": 0, "logged": 0, "retune_due": False}
    shown = runner.invoke(app, ["index", "status"], terminal_width=200)
    assert "labels since tuning" in shown.stdout


def test_index_status_says_what_the_query_log_told_self_tuning() -> None:
    from cli.search_cmds import tuning_rows

    log = {"questions": 300, "odds": {"answer": 1.1, "title": 0.7}, "tuned_on": "usual kinds"}
    rows = dict(tuning_rows({"tuning": {"pseudo_queries": {"answer": 3}, "log": log}}))
    assert rows["query log"] == (
        "300 logged questions; resemblance (odds) answer 1.10, title 0.70; ranking tuned on "
        "usual kinds"
    )
    assert "query log" not in dict(tuning_rows({"tuning": {"pseudo_queries": {"answer": 3}}}))
