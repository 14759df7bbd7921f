"""What every command needs: settings, the database, and errors turned into one-line messages."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from typer._click.core import Context
from typer.core import TyperGroup

from kb.db import Database, open_database
from kb.errors import ZhikuError
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
    try:
        return Settings()
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        typer.echo(f"错误 error: invalid settings: {err}", err=True)
        raise typer.Exit(code=1) from None


def open_db(config: Settings, *, create: bool = False) -> Database:
    return open_database(config.resolved_database_url, create=create)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
