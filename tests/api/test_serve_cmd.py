"""`kb serve`: settings for host and port, demo logins, the port checked first, the index built
with a progress bar on a first start; uvicorn itself is replaced here."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from cli import serve_cmds
from cli.main import app
from kb import users
from kb.db import open_database
from tests.factories import make_table


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
    # the default port may be taken on a shared machine; the check has its own tests below
    monkeypatch.setattr(serve_cmds, "port_problem", lambda host, port: None)
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


def test_a_busy_port_fails_at_once_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "no-database-yet"))
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.output == (
        f"错误 error: port {port} on 127.0.0.1 is already in use (another `kb serve` or "
        f"`make run`?); stop it, or choose another port: kb serve --port {port + 1} "
        f"(or ZHIKU_PORT={port + 1} make run)\n"
    )
    assert calls == [] and not (tmp_path / "no-database-yet").exists()  # nothing was opened


def test_the_port_check_runs_without_the_project_installed(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "cli" / "ports.py"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # -I: isolated, like the system Python `make run` calls before anything is installed
        taken = subprocess.run(
            [sys.executable, "-I", str(script), "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
    assert taken.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in taken.stderr
    free = subprocess.run([sys.executable, "-I", str(script), "127.0.0.1", str(port)])
    assert free.returncode == 0


def test_a_first_start_builds_the_index_with_a_progress_bar(
    data_dir: Path, served: dict[str, Any]
) -> None:
    db = open_database(f"sqlite:///{data_dir / 'zhiku.db'}")
    with db.transaction() as session:
        make_table(session)
    db.dispose()
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert "Building the search index (first start; later starts take seconds)" in result.output
    assert "编码 embedding" in result.output and "调优 self-tuning" in result.output
    assert (data_dir / "index" / "params.json").exists()
    assert result.output.index("Building the search index") < result.output.index("http://")
    again = CliRunner().invoke(app, ["serve"])
    assert "Building the search index" not in again.output
