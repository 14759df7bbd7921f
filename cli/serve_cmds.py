"""``kb serve``: the web service (API, agent console, customer FAQ, admin desk) under uvicorn.

Before any work it checks that the port is free (a busy port fails at once). On a first start
the search index is built here, with the progress bar of ``kb index build``, before the server
opens the port; later starts load it from disk in seconds.

With ``--workers N`` (``ZHIKU_WORKERS``) uvicorn runs N server processes on the one port. They
share one copy of the index in memory: it is loaded with mmap (``ZHIKU_INDEX_MMAP``), and the
drift repair that may rewrite it runs here, once, before they start. One of them, whichever
holds ``data_dir/sweep.lock``, runs the staleness sweep.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from cli.context import open_db, settings
from cli.ports import port_problem
from cli.progress import progress_bar

if TYPE_CHECKING:
    from kb.settings import Settings

DEMO_USERS = {
    "demo-agent": "agent",
    "demo-editor": "editor",
    "demo-reviewer": "reviewer",
    "demo-admin": "admin",
}


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option(
        None, "--host", help="Interface to listen on (ZHIKU_HOST, 127.0.0.1)."
    ),
    port: int = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on (ZHIKU_PORT, 8000)."
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        min=1,
        max=64,
        help="Server processes sharing the port and one memory-mapped index (ZHIKU_WORKERS, "
        "1); about one per core.",
    ),
    demo_users: bool = typer.Option(
        False,
        "--demo-users",
        help="Create demo-agent/-editor/-reviewer/-admin when missing and print a fresh token "
        "for each (for trying the demo; do not use in production).",
    ),
) -> None:
    """Serve the HTTP API and the web pages: / (FAQ), /agent, /admin, /docs.

    Example: kb serve --port 8000 --workers 2
    """
    # One BLAS thread per process unless told otherwise (before numpy loads; workers inherit
    # it): a search's small matrix products gain nothing from a second thread, whose spinning
    # took a demo search from 4.7 to 15.8 ms of CPU on the shared two-core box (measured).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    config = settings()
    host = host or config.host
    port = port or config.port
    workers = workers or config.workers
    problem = port_problem(host, port)
    if problem:
        typer.echo(f"错误 error: {problem}", err=True)
        raise typer.Exit(code=1)
    _print_logins(config, demo_users)
    _build_index_first(config)
    import uvicorn

    typer.echo(f"知库 Zhiku on http://{host}:{port}/  (agent console /agent, admin desk /admin)")
    if workers == 1:
        from api.app import create_app

        uvicorn.run(create_app(config), host=host, port=port, log_level="info")
        return
    # In a child process, so that this one (it only watches the workers) stays small.
    child = multiprocessing.get_context("spawn").Process(target=_sync_index)
    child.start()
    child.join()
    if child.exitcode != 0:  # it said why
        raise typer.Exit(code=1)
    # The worker processes are started afresh and build their app from the environment.
    os.environ["ZHIKU_WORKERS"] = str(workers)
    typer.echo(f"{workers} worker processes")
    _run_workers(host, port, workers)


def _run_workers(host: str, port: int, workers: int) -> None:
    """uvicorn's supervisor of ``workers`` processes (what ``uvicorn.run`` does with
    ``workers``), each worker on a listening socket of its own whose connections get
    ``TCP_NODELAY`` (:mod:`cli.listener`)."""
    from uvicorn import Config

    from cli.listener import Supervisor

    config = Config(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )
    try:
        Supervisor(config).run()
    except KeyboardInterrupt:  # as uvicorn.run: Ctrl+C ends the server quietly
        pass
    except OSError as err:  # the port was taken between the check and a worker's socket
        typer.echo(f"错误 error: cannot listen on {host}:{port} ({err})", err=True)
        raise typer.Exit(code=1) from None


def _sync_index() -> None:
    """Repair drift once before N workers start, so that they do not all rewrite the index
    (a re-tune it calls for is left to the workers: one re-tunes while serving, the others
    take its result)."""
    from indexer.service import SearchService
    from kb.errors import ZhikuError

    config = settings()
    db = open_db(config)
    try:
        SearchService.open(config, db, tune=False)
    except ZhikuError as err:
        typer.echo(f"错误 error: {err}", err=True)
        raise SystemExit(1) from None
    finally:
        db.dispose()


def _build_index_first(config: Settings) -> None:
    """Build a missing index with a progress bar (the service would build it silently); refuse
    one this Zhiku cannot read in one line here, not in every worker's startup traceback."""
    from indexer import store

    if (config.index_dir / store.PARAMS).exists():
        params = store.read_params(config.index_dir)  # ZhikuError: one line, exit 1
        store.check_params(
            params, config.index_dir, None, config.vector_kinds, config.search_backend
        )
        return
    from indexer.service import SearchService

    console = Console(stderr=True)
    console.print("Building the search index (first start; later starts take seconds) …")
    db = open_db(config)
    try:
        with progress_bar(console) as progress:
            SearchService.build(config, db, progress=progress)
    finally:
        db.dispose()


def _print_logins(config: Settings, demo_users: bool) -> None:
    from kb import users
    from kb.models import Role

    db = open_db(config)
    try:
        with db.transaction() as session:
            if demo_users:
                lines = []
                for name, role_name in DEMO_USERS.items():
                    role = Role(role_name)
                    user = users.find_user(session, name) or users.create_user(
                        session, name, role, actor="kb serve"
                    )
                    _, token = users.issue_token(
                        session, user, label="kb serve --demo-users", actor="kb serve"
                    )
                    lines.append(f"  {role.value:<9} {name:<14} {token}")
                typer.echo("Demo logins (paste a token into the login box of /agent or /admin):")
                typer.echo("\n".join(lines))
            elif not users.list_users(session):
                typer.echo(
                    "No users yet. For the agent console and admin desk, create one and a token:\n"
                    "  kb user add admin1 --role admin\n"
                    "  kb user token admin1"
                )
    finally:
        db.dispose()
