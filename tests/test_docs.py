"""Guards on the surface: every CLI command has help text and appears in the README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.main import app

ROOT = Path(__file__).resolve().parent.parent


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        found.append((path, command))
        if hasattr(command, "commands"):
            found += _commands(command, f"{path} ")
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    assert hasattr(root, "commands")
    commands = _commands(root)
    assert len(commands) >= 2
    missing_help = [path for path, cmd in commands if not (cmd.help or "").strip()]
    missing_readme = [path for path, _ in commands if f"kb {path}" not in readme]
    assert missing_help == []
    assert missing_readme == []
