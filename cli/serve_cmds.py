"""``kb serve``: the web service (API, agent console, customer FAQ, admin desk) under uvicorn."""

from __future__ import annotations

import typer

from cli.context import open_db, settings
from kb import users
from kb.models import Role
from kb.settings import Settings

DEMO_USERS = {
    "demo-agent": Role.AGENT,
    "demo-editor": Role.EDITOR,
    "demo-reviewer": Role.REVIEWER,
    "demo-admin": Role.ADMIN,
}


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("serve")(serve)


def serve(
    host: str = typer.Option(
        None, "--host", help="Interface to listen on (ZHIKU_HOST, 127.0.0.1)."
    ),
    port: int = typer.Option(None, "--port", help="Port to listen on (ZHIKU_PORT, 8000)."),
    demo_users: bool = typer.Option(
        False,
        "--demo-users",
        help="Create demo-agent/-editor/-reviewer/-admin when missing and print a fresh token "
        "for each (for trying the demo; do not use in production).",
    ),
) -> None:
    """Serve the HTTP API and the web pages: / (FAQ), /agent, /admin, /docs.

    Example: kb serve --port 8000
    """
    import uvicorn

    from api.app import create_app

    config = settings()
    host = host or config.host
    port = port or config.port
    _print_logins(config, demo_users)
    typer.echo(f"知库 Zhiku on http://{host}:{port}/  (agent console /agent, admin desk /admin)")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")


def _print_logins(config: Settings, demo_users: bool) -> None:
    db = open_db(config)
    try:
        with db.transaction() as session:
            if demo_users:
                lines = []
                for name, role in DEMO_USERS.items():
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
