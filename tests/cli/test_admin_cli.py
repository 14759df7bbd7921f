from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


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
