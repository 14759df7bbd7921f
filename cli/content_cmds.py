"""``kb import``, ``kb export`` and ``kb demo-load``: knowledge in and out as files."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.context import open_db, print_json, settings
from kb import repository, users
from kb.db import Database
from kb.errors import ImportRefused, ImportRejected, Problem
from kb.models import KnowledgeTable, User
from kb.settings import Settings
from kb.transfer.bundle import ImportReport
from kb.transfer.exporter import write_directory
from kb.transfer.importer import Progress as ProgressCallback
from kb.transfer.importer import apply_bundle, read_path
from kb.transfer.limits import ImportLimits

PROGRESS_FROM = 50  # tables; smaller imports finish before a bar would be worth drawing


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("import")(import_content)
    app.command("export")(export_content)
    app.command("demo-load")(demo_load)


def import_content(
    path: Path = typer.Argument(..., help="A content directory, a .csv or an .xlsx file."),
    draft: bool = typer.Option(
        False, "--draft", help="Import new and changed content as drafts for review."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    as_user: str | None = typer.Option(
        None,
        "--as",
        envvar="ZHIKU_USER",
        help="Import as this user, with their rights and scopes (as over HTTP); without it "
        "the import runs as the local operator, who holds every right.",
    ),
    actor: str = typer.Option(
        "import", "--actor", help="Name of the local operator in the audit log (without --as)."
    ),
) -> None:
    """Import knowledge from files, all or nothing (tables matched by code).

    Every problem is listed with file, line or row, field and reason, and nothing is written;
    so is every change the user may not make (--as). Re-importing unchanged content changes
    nothing; changed content becomes a new revision (with --draft: a draft for review, as do
    changes of audience and validity). A .zip of a content directory is read like the directory.

    Example: kb import content/demo; kb import changes.csv --draft --as editor1
    """
    config = settings()
    db = open_db(config)
    try:
        _import(config, db, path, actor=actor, as_user=as_user, draft=draft, as_json=as_json)
    finally:
        db.dispose()


def export_content(
    directory: Path = typer.Argument(..., help="Directory to write the content files into."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Write into a non-empty directory; its content files not in the export are removed.",
    ),
) -> None:
    """Write the knowledge base as a content directory (the format of `kb import`).

    Each table is written with its live revision (else its latest); dates are UTC.

    Example: kb export exported/
    """
    config = settings()
    db = open_db(config)
    try:
        with db.session() as session:
            summary = write_directory(session, directory, overwrite=force)
    finally:
        db.dispose()
    typer.echo(
        f"Exported {summary.tables} tables in {summary.packages} packages and "
        f"{summary.categories} categories to {directory}"
    )


def demo_load(
    directory: Path = typer.Argument(..., help="The demo content directory."),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing when the database already holds tables."
    ),
) -> None:
    """Load demo content (what `make run` uses to fill a fresh database).

    Example: kb demo-load --if-empty content/demo
    """
    config = settings()
    db = open_db(config)
    try:
        with db.session() as session:
            present = repository.count(session, KnowledgeTable)
        if if_empty and present:
            typer.echo(f"The database already holds {present} tables; demo content not loaded.")
            return
        _import(config, db, directory, actor="demo", draft=False, as_json=False)
    finally:
        db.dispose()


def _import(
    config: Settings,
    db: Database,
    path: Path,
    *,
    actor: str,
    draft: bool,
    as_json: bool,
    as_user: str | None = None,
) -> None:
    try:
        bundle = read_path(path, ImportLimits.from_settings(config))
        with (
            db.transaction() as session,
            _progress(bundle.table_count(), quiet=as_json) as progress,
        ):
            who: str | User = users.get_user(session, as_user) if as_user else actor
            report = apply_bundle(
                session, bundle, actor=who, draft=draft, zone=config.zone, progress=progress
            )
    except (ImportRejected, ImportRefused) as err:
        _print_rejection(err, as_json)
        raise typer.Exit(code=1) from None
    _sync_index(config, db, report)
    if as_json:
        print_json({"ok": True, "source": str(path), **report.to_dict()})
        return
    typer.echo(_summary(path, report, draft))


@contextmanager
def _progress(total: int, *, quiet: bool) -> Iterator[ProgressCallback | None]:
    if quiet or total < PROGRESS_FROM:
        yield None
        return
    bar = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("import", total=total)
    with bar:
        yield lambda done, _total: bar.update(task, completed=done)


def _print_rejection(err: ImportRejected | ImportRefused, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "ok": False,
                "message": err.message,
                "problems": [p.to_dict() for p in err.problems],
            }
        )
        return
    typer.echo(f"错误 error: {err.message}", err=True)
    for problem in err.problems:
        typer.echo(f"  - {_describe(problem)}", err=True)


def _describe(problem: Problem) -> str:
    text = str(problem)
    value = problem.value
    if isinstance(value, str | int | float) and value != "" and len(repr(value)) <= 60:
        if repr(value) not in text and str(value) not in text:
            text += f" (got {value!r})"
    return text


def _summary(path: Path, report: ImportReport, draft: bool) -> str:
    kind = "draft revisions" if draft else "published"
    parts = [
        f"{len(report.created)} created",
        f"{len(report.revised)} revised",
        f"{len(report.updated)} updated",
        f"{len(report.unchanged)} unchanged",
    ]
    extra = f"; {report.categories} categories and {report.packages} packages created or changed"
    if report.proposed:
        extra += f"; audience or validity changes of {len(report.proposed)} wait for review"
    if report.dictionary_changed:
        extra += "; dictionary replaced"
    return f"Imported {path} ({kind}): tables {', '.join(parts)}{extra}."


def _sync_index(config: Settings, db: Database, report: ImportReport) -> None:
    """Bring the search index up to date, when an indexer is installed; the import stands anyway.

    Also when this import changed nothing: an earlier one may have been killed between its
    commit and its index update, and re-running the import is what people do then.
    """
    try:
        if importlib.util.find_spec("indexer.service") is None:
            return
        service = importlib.import_module("indexer.service")
        service.sync_after_commit(config, db, report.changed_table_ids)
    except Exception as err:  # the import is committed; the index catches up later
        typer.echo(
            f"警告 warning: the import is saved but the search index was not updated ({err}); "
            "it catches up on its next sync.",
            err=True,
        )
