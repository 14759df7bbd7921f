"""Customers' contact requests (联系人工客服) through ``kb requests``: list, show and work them.

The same service functions as the admin desk, with the same permission check
(``handle_requests``: agents, reviewers, admins), acting as the user given with ``--as``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer

from cli.context import print_json
from cli.work import AS_HELP, acting, print_table, read, stamp, work
from kb import handoff, repository
from kb.bounds import MAX_LIST
from kb.models import HandoffRequest, HandoffStatus

requests_app = typer.Typer(
    help="Customers' requests to reach a person, and their answers.\n\n"
    "Example: kb requests --as agent1"
)

STATUS_HELP = "open (new + in_progress), all, new, in_progress, answered or closed."


def register(app: typer.Typer) -> None:
    app.add_typer(requests_app, name="requests")


def _local(value: datetime | None, zone: ZoneInfo) -> str:
    """Minutes in ZHIKU_TIMEZONE: what the person at the terminal reads on their clock."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _contact(request: HandoffRequest) -> str:
    c = handoff.contact_of(request)
    parts = [c.name, c.phone, c.email, f"微信 {c.wechat}" if c.wechat else ""]
    return " · ".join(p for p in parts if p) or "-"


def _as_dict(request: HandoffRequest) -> dict[str, Any]:
    c = handoff.contact_of(request)
    return {
        "ref": request.ref,
        "status": request.status.value,
        "question": request.question,
        "shown": list(request.shown),
        "abstained": request.abstained,
        "channel": request.channel,
        "contact": {"name": c.name, "phone": c.phone, "email": c.email, "wechat": c.wechat},
        "assignee": request.assignee,
        "created_at": stamp(request.created_at),
        "updated_at": stamp(request.updated_at),
        "messages": [
            {"at": stamp(m.at), "author": m.author, "text": m.text, "to_customer": m.to_customer}
            for m in request.messages
        ],
    }


@requests_app.callback(invoke_without_command=True)
def list_requests(
    ctx: typer.Context,
    status: str = typer.Option("open", help=STATUS_HELP),
    assignee: str | None = typer.Option(None, help="Only requests assigned to this user."),
    mine: bool = typer.Option(False, "--mine", help="Only requests assigned to me."),
    as_user: str = typer.Option("", "--as", envvar="ZHIKU_USER", help=AS_HELP),
    limit: int = typer.Option(50, min=1, max=MAX_LIST),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List customers' requests, oldest waiting first (open ones unless --status says otherwise).

    Example: kb requests --status all --as agent1
    """
    if ctx.invoked_subcommand is not None:
        return
    if not as_user:
        raise typer.BadParameter("give --as USER (or set ZHIKU_USER)", param_hint="--as")
    with read() as (config, session):
        user = acting(session, as_user)
        found = handoff.list_requests(
            session,
            user,
            status=status,
            assignee=user.name if mine else assignee,
            page_size=limit,
        )
        if as_json:
            print_json({"total": found.total, "items": [_as_dict(r) for r in found.items]})
            return
        rows = [
            (
                r.ref,
                r.status.value,
                _local(r.created_at, config.zone),
                r.assignee,
                "无答案" if r.abstained else "有答案",
                r.question,
                _contact(r),
            )
            for r in found.items
        ]
    print_table(
        ["ref", "status", "created", "assignee", "search", "question", "contact"],
        rows,
        f"客户请求 customer requests ({status}): {found.total}",
    )


@requests_app.command("show")
def show(
    ref: str = typer.Argument(..., help="Reference number, e.g. KF000007."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """One request: question, what the customer was shown, contact details, messages, history.

    Example: kb requests show KF000007 --as agent1
    """
    with read() as (config, session):
        user = acting(session, as_user)
        request = handoff.get_request(session, user, ref)
        if as_json:
            print_json(_as_dict(request))
            return
        zone = config.zone
        shown = ", ".join(f"{s['code']} {s['title']}" for s in request.shown) or "-"
        lines = [
            f"{request.ref} · {request.status.value} · {request.channel} · "
            f"created {_local(request.created_at, zone)} · assignee {request.assignee or '-'}",
            f"question: {request.question}",
            f"shown:    {shown}{' (no confident answer)' if request.abstained else ''}",
            f"contact:  {_contact(request)}",
        ]
        for m in request.messages:
            kind = "reply" if m.to_customer else "note"
            lines.append(f"  {_local(m.at, zone)} {m.author} {kind}: {m.text}")
        assert request.ref is not None
        for entry in repository.audit_for(session, "request", request.ref):
            lines.append(f"  {_local(entry.at, zone)} {entry.actor} {entry.action} {entry.detail}")
    typer.echo("\n".join(lines))


@requests_app.command("assign")
def assign(
    ref: str = typer.Argument(..., help="Reference number."),
    to: str = typer.Option(..., "--to", help="The user to assign it to ('' for nobody)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Assign a request to an agent, reviewer or admin; a new request is then in progress.

    Example: kb requests assign KF000007 --to agent1 --as reviewer1
    """
    with work() as (_config, session):
        request = handoff.assign(session, acting(session, as_user), ref, to or None)
        status, assignee = request.status.value, request.assignee
    typer.echo(f"{ref.upper()} → {assignee or 'nobody'} ({status}).")


@requests_app.command("reply")
def reply(
    ref: str = typer.Argument(..., help="Reference number."),
    text: str = typer.Option(..., "--text", help="The answer the customer reads."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Answer the customer (shown on their status page); the request becomes answered.

    Example: kb requests reply KF000007 --text "积分会随号码迁移。" --as agent1
    """
    with work() as (_config, session):
        handoff.reply(session, acting(session, as_user), ref, text)
    typer.echo(f"{ref.upper()}: replied; the customer sees it on their status page.")


@requests_app.command("note")
def note(
    ref: str = typer.Argument(..., help="Reference number."),
    text: str = typer.Option(..., "--text", help="The note (never shown to the customer)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Add a note for staff to a request; its status stays as it is.

    Example: kb requests note KF000007 --text "电话未接通，已发短信" --as agent1
    """
    with work() as (_config, session):
        handoff.note(session, acting(session, as_user), ref, text)
    typer.echo(f"{ref.upper()}: note added.")


def _move(ref: str, status: HandoffStatus, comment: str, as_user: str) -> None:
    with work() as (_config, session):
        handoff.set_status(session, acting(session, as_user), ref, status, comment=comment)
    typer.echo(f"{ref.upper()} is {status.value}.")


@requests_app.command("close")
def close(
    ref: str = typer.Argument(..., help="Reference number."),
    comment: str = typer.Option("", help="Why (kept as a note)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Close a request (answered, or nothing more to do).

    Example: kb requests close KF000007 --comment "客户已确认" --as agent1
    """
    _move(ref, HandoffStatus.CLOSED, comment, as_user)


@requests_app.command("reopen")
def reopen(
    ref: str = typer.Argument(..., help="Reference number."),
    comment: str = typer.Option("", help="Why (kept as a note)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Put an answered or closed request back in progress.

    Example: kb requests reopen KF000007 --comment "客户来电追问" --as agent1
    """
    _move(ref, HandoffStatus.IN_PROGRESS, comment, as_user)
