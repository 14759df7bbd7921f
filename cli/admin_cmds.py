"""``kb init``, ``kb stats``, and renaming: ``kb category rename``, ``kb package rename``."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cli.context import open_db, print_json, settings
from cli.work import AS_HELP, acting, work
from kb import renaming
from kb.db import drop_schema
from kb.hierarchy import package_path
from kb.stats import kb_stats

category_app = typer.Typer(help="Categories (知识大类): rename.", no_args_is_help=True)
package_app = typer.Typer(help="Packages (知识包): rename.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("stats")(stats)
    category_app.command("rename")(rename_category)
    package_app.command("rename")(rename_package)
    app.add_typer(category_app, name="category")
    app.add_typer(package_app, name="package")


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


def rename_category(
    name: str = typer.Argument(..., help="The category's current name."),
    new_name: str = typer.Argument(..., help="Its new name."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Rename a category (needs manage_hierarchy); users' scopes naming it follow.

    Example: kb category rename 银行 银行服务 --as admin1
    """
    with work() as (_, session):
        category = renaming.rename_category(session, acting(session, as_user), name, new_name)
        new = category.name
    typer.echo(f"Category {name!r} is now {new!r}.")


def rename_package(
    path: str = typer.Argument(..., help="The package as category/package."),
    new_name: str = typer.Argument(..., help="Its new name (it stays in its category)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Rename a package within its category (needs manage_hierarchy); scopes follow.

    Example: kb package rename 银行服务/信用卡业务 信用卡 --as admin1
    """
    with work() as (_, session):
        package = renaming.rename_package(session, acting(session, as_user), path, new_name)
        new = package_path(package)
    typer.echo(f"Package {path!r} is now {new!r}.")
