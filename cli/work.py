"""Plumbing shared by the governance verbs: one transaction per command, index sync after it."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from cli.context import open_db, settings
from kb import changes, users
from kb.db import Database
from kb.errors import Problem, ValidationFailed
from kb.models import User
from kb.settings import Settings
from kb.transfer.dates import parse_when

AS_HELP = "Act as this user (name from `kb user list`); or set ZHIKU_USER."
CLI_ACTOR = "cli"  # the audit actor of local administration (user management, sweep)
_DAY_ONLY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}$")


@contextmanager
def work() -> Iterator[tuple[Settings, Session]]:
    """One transaction; after it commits, the tables it changed are re-indexed."""
    config = settings()
    db = open_db(config)
    try:
        with db.transaction() as session:
            yield config, session
            changed = changes.pop(session)
        sync_index(config, db, changed)
    finally:
        db.dispose()


@contextmanager
def read() -> Iterator[tuple[Settings, Session]]:
    """A read-only session."""
    config = settings()
    db = open_db(config)
    try:
        with db.session() as session:
            yield config, session
    finally:
        db.dispose()


def sync_index(config: Settings, db: Database, changed: set[int]) -> None:
    """Tell the indexer what changed (it also repairs drift); the change stands if that fails."""
    if not changed:
        return
    try:
        if importlib.util.find_spec("indexer.service") is None:
            return
        service = importlib.import_module("indexer.service")
        service.sync_after_commit(config, db, changed)
    except Exception as err:  # the index repairs itself on its next sync
        typer.echo(
            f"警告 warning: saved, but the search index was not updated ({err}); "
            "it catches up on its next sync.",
            err=True,
        )


def acting(session: Session, name: str) -> User:
    """The user a command acts as."""
    return users.get_user(session, name)


def option_date(
    value: str | None, config: Settings, *, option: str, end_of_day: bool = False
) -> datetime | None:
    """A date (in ZHIKU_TIMEZONE) or ISO date-time given as ``option``, as aware UTC."""
    moment, problems = parse_when(value, zone=config.zone, end_of_day=end_of_day, field=option)
    if problems:
        raise ValidationFailed(f"{option} is not a date.", problems=problems)
    return moment


def option_submission(value: str | None, config: Settings) -> datetime | None:
    """``--submitted-at``: the exact moment a revision was sent to review (a date alone is not)."""
    if value is not None and _DAY_ONLY.match(value.strip()):
        raise ValidationFailed(
            "--submitted-at is not a moment.",
            problems=[
                Problem(
                    "give the revision's submitted_at, as `kb review queue --json` prints it",
                    "--submitted-at",
                    value,
                )
            ],
        )
    return option_date(value, config, option="--submitted-at")


def stamp(value: datetime | None) -> str | None:
    """ISO 8601 for JSON output (None stays null)."""
    return value.isoformat() if value is not None else None


def iso(value: datetime | None) -> str:
    return value.isoformat(timespec="minutes") if value is not None else "-"


def local(value: datetime | None, zone: tzinfo) -> str:
    """A moment as people read it in ZHIKU_TIMEZONE: ``2026-12-04 00:00``."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    title: str,
    *,
    keep: Sequence[str] = (),
) -> None:
    """A table for people; columns named in ``keep`` (codes, times) never wrap or get cut, the
    others wrap rather than end in "…"."""
    out = Table(title=title)
    for name in columns:
        out.add_column(name, no_wrap=name in keep, overflow="fold")
    for row in rows:
        out.add_row(*("-" if v is None else str(v) for v in row))
    Console().print(out)
