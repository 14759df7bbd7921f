"""What every command needs: settings, the database, and errors turned into one-line messages."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from kb.errors import ZhikuError

if TYPE_CHECKING:  # SQLAlchemy and pydantic-settings load when a command needs them
    from kb.db import Database
    from kb.settings import Settings


class ZhikuGroup(TyperGroup):
    """A command group that prints domain errors for people: no traceback, exit status 1."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZhikuError as err:
            typer.echo(f"错误 error: {err}", err=True)
            raise typer.Exit(code=1) from None


def settings() -> Settings:
    """Fresh settings from the environment (commands are short-lived; tests change the env)."""
    from kb.settings import Settings

    try:
        return Settings()
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        typer.echo(f"错误 error: invalid settings: {err}", err=True)
        raise typer.Exit(code=1) from None


def open_db(config: Settings, *, create: bool = False) -> Database:
    from kb.db import open_database

    return open_database(config.resolved_database_url, create=create)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
