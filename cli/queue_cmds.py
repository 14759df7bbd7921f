"""``kb review``: the governance queues and the per-owner digest."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from cli.context import print_json
from cli.work import AS_HELP, acting, local, print_table, read
from kb import queues
from kb.bounds import MAX_DAYS
from kb.models import User
from kb.permissions import Action, check

review_app = typer.Typer(
    help="Review queues: awaiting review, expiring, expired, flagged, owner digests.",
    no_args_is_help=True,
)


def _viewer(session: Session, name: str | None) -> User | None:
    if name is None:
        return None
    user = acting(session, name)
    check(user, Action.VIEW_QUEUES)
    return user


def _print_due(items: list[queues.DueItem], as_json: bool, title: str, zone: ZoneInfo) -> None:
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    expires = f"expires ({zone.key})"
    print_table(
        ("code", "title", "package", "owner", expires),
        [(i.code, i.title, i.package, i.owner or "-", local(i.expires_at, zone)) for i in items],
        f"{title}: {len(items)}",
        keep=("code", expires),
    )


@review_app.command("queue")
def review_queue(
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Revisions awaiting your review (in your scopes, not your own unless self-approval is on).

    Example: kb review queue --as reviewer1
    """
    with read() as (config, session):
        items = queues.awaiting_review(
            session, acting(session, as_user), allow_self_approval=config.allow_self_approval
        )
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    submitted = f"submitted ({config.zone.key})"
    print_table(
        ("code", "rev", "title", "package", "author", submitted, "note"),
        [
            (
                i.code,
                i.revision,
                i.title,
                i.package,
                i.author,
                local(i.submitted_at, config.zone),
                i.note,
            )
            for i in items
        ],
        f"awaiting review: {len(items)}",
        keep=("code", "rev", submitted),
    )


@review_app.command("due")
def review_due(
    days: int = typer.Option(14, "--days", min=0, max=MAX_DAYS, help="Look this many days ahead."),
    as_user: str | None = typer.Option(None, "--as", help="Limit to this user's scopes."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Live tables that go stale within N days, soonest first.

    Example: kb review due --days 14
    """
    with read() as (config, session):
        items = queues.expiring(session, days=days, user=_viewer(session, as_user))
    _print_due(items, as_json, f"expiring within {days} days", config.zone)


@review_app.command("expired")
def review_expired(
    as_user: str | None = typer.Option(None, "--as", help="Limit to this user's scopes."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Live tables that are stale now (hidden from customers and default agent search).

    Example: kb review expired --json
    """
    with read() as (config, session):
        items = queues.expired(session, user=_viewer(session, as_user))
    _print_due(items, as_json, "expired", config.zone)


@review_app.command("flagged")
def review_flagged(
    as_user: str | None = typer.Option(None, "--as", help="Limit to this user's scopes."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Tables with open flags from agents, most flagged first.

    Example: kb review flagged
    """
    with read() as (_, session):
        items = queues.flagged(session, user=_viewer(session, as_user))
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    print_table(
        ("code", "title", "package", "flags (id reason by: comment)"),
        [
            (
                i.code,
                i.title,
                i.package,
                "; ".join(
                    f"{f['id']} {f['reason']} by {f['raised_by']}"
                    + (f": {f['comment']}" if f["comment"] else "")
                    for f in i.flags
                ),
            )
            for i in items
        ],
        f"flagged: {len(items)}",
    )


@review_app.command("digest")
def review_digest(
    days: int = typer.Option(
        14, "--days", min=0, max=MAX_DAYS, help="Expiring-soon horizon in days."
    ),
    owner: str | None = typer.Option(None, "--owner", help="Only this package owner."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Per package owner: what expires soon, what expired, what is flagged or in review.

    Example: kb review digest --owner 李娜
    """
    with read() as (config, session):
        found = [d for d in queues.digests(session, days=days) if owner is None or d.owner == owner]
    if as_json:
        print_json([d.to_dict() for d in found])
        return
    for d in found:
        typer.echo(f"# {d.owner or '(no owner)'}: {', '.join(d.packages)}")
        if d.empty:
            typer.echo("  nothing to do")
        for label, codes in (
            (
                f"expiring within {days} days",
                [f"{i.code} ({local(i.expires_at, config.zone)})" for i in d.expiring],
            ),
            ("expired", [i.code for i in d.expired]),
            ("flagged", [f"{i.code} ×{len(i.flags)}" for i in d.flagged]),
            ("in review", [f"{i.code} r{i.revision}" for i in d.in_review]),
        ):
            if codes:
                typer.echo(f"  {label}: {', '.join(codes)}")
