"""`kb serve`: settings for host and port, demo logins, the port checked first, the index built
with a progress bar on a first start; uvicorn itself is replaced here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from cli import listener, serve_cmds
from cli.main import app
from kb import users
from kb.db import open_database
from kb.models import Role
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


def test_workers_run_from_the_app_factory_after_one_drift_repair(
    data_dir: Path, served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(f"sqlite:///{data_dir / 'zhiku.db'}")
    with db.transaction() as session:
        make_table(session)
    db.dispose()
    monkeypatch.delenv("ZHIKU_WORKERS", raising=False)
    supervised: dict[str, Any] = {}

    class Supervisor:  # cli.listener's, which would start the worker processes
        def __init__(self, config: uvicorn.Config) -> None:
            supervised["config"] = config

        def run(self) -> None:
            supervised["ran"] = True

    monkeypatch.setattr(listener, "Supervisor", Supervisor)
    result = CliRunner().invoke(app, ["serve", "--workers", "3", "--port", "18766"])
    assert result.exit_code == 0, result.output
    config = supervised["config"]
    assert config.app == "api.app:create_app" and config.factory is True
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 18766, 3)
    assert os.environ["ZHIKU_WORKERS"] == "3"
    assert supervised["ran"] and "app" not in served  # uvicorn.run binds a socket of its own
    monkeypatch.delenv("ZHIKU_WORKERS")
    assert (data_dir / "index" / "params.json").exists()


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found = []
    for task in tasks.iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _maps(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _listening(port: int) -> set[str]:
    """Inodes of the IPv4 sockets listening on ``port`` (``/proc/net/tcp``, state 0A)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    fields = [r.split() for r in rows]
    return {f[9] for f in fields if f[3] == "0A" and int(f[1].split(":")[1], 16) == port}


def _sockets(pid: int) -> set[str]:
    """Inodes of the sockets process ``pid`` holds open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_two_workers_answer_from_one_mapped_index(data_dir: Path) -> None:
    db = open_database(f"sqlite:///{data_dir / 'zhiku.db'}")
    with db.transaction() as session:
        make_table(session)
        user = users.create_user(session, "w-agent", Role.AGENT, actor="test")
        _, token = users.issue_token(session, user, label="test", actor="test")
    db.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ZHIKU_RATE_LIMITS": "false"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--workers", "2"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        workers: list[int] = []
        for _ in range(240):  # both workers up, each with the index mapped
            workers = [c for c in _children(server.pid) if _maps(c, "dense_vectors.npy")]
            if len(workers) == 2:
                break
            time.sleep(0.5)
        assert len(workers) == 2
        # A listening socket each (the kernel spreads connections over them), none left
        # with the supervisor (a worker that dies takes its socket with it). A worker listens
        # once its app has started, a while after it mapped the index.
        listening = _listening(port)
        for _ in range(240):
            if len(listening) == 2:
                break
            time.sleep(0.5)
            listening = _listening(port)
        assert len(listening) == 2
        assert [len(_sockets(w) & listening) for w in workers] == [1, 1]
        assert not _sockets(server.pid) & listening
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(120):
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            answers = {
                client.get("/api/search", params={"q": "改号后旧号码还扣费吗"}).json()[
                    "suggestions"
                ][0]["code"]
                for _ in range(10)
            }
        assert answers == {"TX-GH-001"}
    finally:
        server.terminate()
        server.wait(timeout=30)
