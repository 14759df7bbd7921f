"""``kb`` starts without loading what a command does not need (how fast: eval/bench_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer

from cli.main import COMMANDS, app

HEAVY = (
    "numpy",
    "faiss",
    "jieba",
    "pypinyin",
    "sqlalchemy",
    "fastapi",
    "uvicorn",
    "eval",
    "opencc",
)

PROBE = """
import json, sys
from cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write(json.dumps(heavy))
"""


def _loaded(*args: str) -> list[str]:
    """The heavy modules ``kb ARGS`` imported (run in a fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_kb_help_lists_every_command_without_importing_any() -> None:
    assert _loaded("--help") == []


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["search", "--help"], []),
        (["hit-test", "--help"], []),
        (["serve", "--help"], []),
        (["review", "due", "--help"], ["sqlalchemy"]),
    ],
)
def test_a_command_loads_only_its_own_module(args: list[str], allowed: list[str]) -> None:
    assert _loaded(*args) == allowed


def test_the_command_list_agrees_with_the_commands() -> None:
    group = typer.main.get_command(app)
    assert list(group.list_commands(None)) == list(COMMANDS)  # type: ignore[attr-defined, arg-type]
    for name, (_, short) in COMMANDS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        assert (command.help or "").strip().split("\n")[0] == short, name
