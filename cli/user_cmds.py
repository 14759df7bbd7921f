"""``kb user``: users, roles, scopes and API tokens (local administration, audited as "cli")."""

from __future__ import annotations

from typing import Any

import typer

from cli.context import print_json
from cli.work import CLI_ACTOR, print_table, read, work
from kb import users as kb_users
from kb.bounds import MAX_ID

user_app = typer.Typer(help="Users, roles, scopes and API tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="Login name, e.g. editor1 or 李娜."),
    role: str = typer.Option(..., "--role", help="agent, editor, reviewer or admin."),
    scope: list[str] = typer.Option(
        [], "--scope", help="Category or category/package (editors, reviewers); repeatable."
    ),
    display_name: str = typer.Option("", "--display-name", help="Name shown as author."),
) -> None:
    """Add a user with a role and, for editors and reviewers, optional scopes.

    Example: kb user add reviewer1 --role reviewer --scope 银行服务/信用卡
    """
    with work() as (_, session):
        user = kb_users.create_user(
            session, name, role, scope, display_name=display_name, actor=CLI_ACTOR
        )
        where = ", ".join(user.scopes) or "everywhere"
    typer.echo(f"Added {name} ({role}, {where}). Give them a token with `kb user token {name}`.")


@user_app.command("list")
def user_list(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List users with role, scopes and whether they are active.

    Example: kb user list --json
    """
    with read() as (_, session):
        rows: list[dict[str, Any]] = [
            {
                "name": u.name,
                "display_name": u.display_name,
                "role": u.role.value,
                "scopes": list(u.scopes),
                "active": u.active,
                "tokens": sum(t.revoked_at is None for t in kb_users.tokens_of(session, u)),
            }
            for u in kb_users.list_users(session)
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ("name", "role", "scopes", "active", "tokens"),
        [
            (r["name"], r["role"], ", ".join(r["scopes"]) or "all", r["active"], r["tokens"])
            for r in rows
        ],
        "users",
    )


@user_app.command("token")
def user_token(
    name: str = typer.Argument(..., help="The user the token is for."),
    label: str = typer.Option("", "--label", help="What the token is for, e.g. agent console."),
) -> None:
    """Issue a new API token and print it once (only its hash is stored).

    Example: kb user token agent1 --label 坐席工作台
    """
    with work() as (_, session):
        user = kb_users.get_user(session, name)
        row, token = kb_users.issue_token(session, user, label=label, actor=CLI_ACTOR)
        token_id = row.id
    typer.echo(token)
    typer.echo(
        f"Token {token_id} for {name}; it is not stored and cannot be shown again. "
        f"Revoke with `kb user revoke {token_id}`.",
        err=True,
    )


@user_app.command("revoke")
def user_revoke(
    token_id: int = typer.Argument(..., min=1, max=MAX_ID, help="Token id (printed when issued)."),
) -> None:
    """Revoke an API token.

    Example: kb user revoke 3
    """
    with work() as (_, session):
        row = kb_users.revoke_token(session, token_id, actor=CLI_ACTOR)
        owner = row.user.name
    typer.echo(f"Token {token_id} of {owner} revoked.")


@user_app.command("disable")
def user_disable(
    name: str = typer.Argument(..., help="The user to deactivate."),
    enable: bool = typer.Option(False, "--enable", help="Reactivate instead."),
) -> None:
    """Deactivate a user (their tokens stop working); --enable reactivates.

    Example: kb user disable agent7
    """
    with work() as (_, session):
        user = kb_users.get_user(session, name)
        changed = kb_users.update_user(session, user, active=enable, actor=CLI_ACTOR)
    state = "active" if enable else "deactivated"
    typer.echo(f"{name} is {state}{'' if changed else ' (unchanged)'}.")
