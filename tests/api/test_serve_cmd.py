"""`kb serve`: settings for host and port, demo logins; uvicorn itself is replaced here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from cli.main import app
from kb import users
from kb.db import open_database


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    open_database(f"sqlite:///{tmp_path / 'zhiku.db'}", create=True).dispose()
    return tmp_path


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(application: Any, **options: Any) -> None:
        calls["app"] = application
        calls.update(options)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_serve_uses_settings_and_hints_at_creating_a_user(
    data_dir: Path, served: dict[str, Any]
) -> None:
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("127.0.0.1", 8000)
    assert "kb user add admin1 --role admin" in result.output
    assert "http://127.0.0.1:8000/" in result.output


def test_serve_with_demo_users_prints_working_tokens(
    data_dir: Path, served: dict[str, Any]
) -> None:
    result = CliRunner().invoke(app, ["serve", "--demo-users", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 8123
    tokens = {
        line.split()[1]: line.split()[2] for line in result.output.splitlines() if "zk_" in line
    }
    assert sorted(tokens) == ["demo-admin", "demo-agent", "demo-editor", "demo-reviewer"]
    db = open_database(f"sqlite:///{data_dir / 'zhiku.db'}")
    with db.session() as session:
        assert users.authenticate(session, tokens["demo-agent"]).name == "demo-agent"
    db.dispose()
    again = CliRunner().invoke(app, ["serve", "--demo-users"])
    assert again.exit_code == 0  # existing demo users get a fresh token, no duplicate error


def test_serve_without_a_database_says_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: dict[str, Any]
) -> None:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "kb init" in result.output
    assert served == {}
