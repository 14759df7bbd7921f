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
        except Exception as err:
            message = database_trouble(err)
            if message is None:
                raise
            typer.echo(f"错误 error: {message}", err=True)
            raise typer.Exit(code=1) from None


def database_trouble(err: Exception) -> str | None:
    """A one-line message for a failure of the database itself (busy, not a database,
    unreachable); None for anything else."""
    exc = sys.modules.get("sqlalchemy.exc")  # loaded with SQLAlchemy, only if a command used it
    if exc is None or not isinstance(err, exc.DBAPIError):
        return None
    cause = err.orig if err.orig is not None else err
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    if "locked" in reason or "busy" in reason:
        return f"the database is busy ({reason}): another process is writing; try again shortly."
    return (
        f"the database cannot be used ({reason}); check ZHIKU_DATABASE_URL or the data "
        "directory (`kb init` makes a new database)."
    )


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
