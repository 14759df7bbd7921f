"""``kb init`` and ``kb stats``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cli.context import open_db, print_json, settings
from kb.db import drop_schema
from kb.stats import kb_stats


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("stats")(stats)


def init(
    reset: bool = typer.Option(False, "--reset", help="Drop every table first (destroys data)."),
) -> None:
    """Create the database schema.

    Example: kb init
    """
    config = settings()
    if reset:
        from kb.db import make_engine

        engine = make_engine(config.resolved_database_url)
        drop_schema(engine)
        engine.dispose()
    db = open_db(config, create=True)
    db.dispose()
    typer.echo(f"Database ready: {config.resolved_database_url}")


def stats(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Counts per level of the hierarchy and per revision state.

    Example: kb stats --json
    """
    config = settings()
    db = open_db(config)
    with db.session() as session:
        data = kb_stats(session)
    db.dispose()
    if as_json:
        print_json(data)
        return
    console = Console()
    table = Table("what", "count", title="知库 Zhiku")
    for key in ("categories", "packages", "tables", "live_tables", "revisions"):
        table.add_row(key, str(data[key]))
    for state, n in sorted(data["revision_states"].items()):
        table.add_row(f"revisions {state}", str(n))
    table.add_row("synonym groups", str(data["synonym_groups"]))
    table.add_row("domain terms", str(data["domain_terms"]))
    console.print(table)
