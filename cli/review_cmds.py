"""``kb`` verbs for the review workflow, staleness, flags and the audit trail.

Workflow verbs act as a named user (``--as editor1``, or ``ZHIKU_USER``) so that permissions,
scopes and the audit trail apply exactly as they do over HTTP. Each command is one
transaction; after it commits, the search index is told which tables changed
(:mod:`cli.work`). ``kb user`` lives in :mod:`cli.user_cmds`, ``kb review`` in
:mod:`cli.queue_cmds`; both are registered from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import typer
import yaml

from cli.context import print_json
from cli.queue_cmds import review_app
from cli.user_cmds import user_app
from cli.work import (
    AS_HELP,
    acting,
    iso,
    option_date,
    option_submission,
    print_table,
    read,
    stamp,
    work,
)
from kb import diff, flags, hierarchy, repository, staleness, tables, workflow
from kb.bounds import MAX_ID
from kb.clock import utcnow
from kb.errors import ValidationFailed
from kb.models import Audience, RevisionState
from kb.text import printable
from kb.transfer import yamlio
from kb.transfer.limits import ImportLimits
from kb.visibility import expires_at, is_stale


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.add_typer(user_app, name="user")
    app.add_typer(review_app, name="review")
    for name, command in (
        ("draft", draft),
        ("submit", submit),
        ("approve", approve),
        ("reject", reject),
        ("withdraw", withdraw),
        ("archive", archive),
        ("rollback", rollback),
        ("revisions", revisions),
        ("diff", show_diff),
        ("verify", verify),
        ("flag", flag),
        ("dismiss", dismiss),
        ("sweep", sweep),
        ("audit", audit_log),
    ):
        app.command(name)(command)


REVIEWED_HELP = (
    "The submission you reviewed: its submitted_at as `kb review queue --json` gives it. "
    "Refused if the revision was withdrawn and submitted again since (it may say something else)."
)


# ── workflow ─────────────────────────────────────────────────────────────────────────────


def _parse_fields(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; a key given more than once collects a list (for steps/list fields)."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE (e.g. answer=请携带身份证)")
        key = key.strip()
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    return fields


_FILE_KEYS = {"title", "questions", "tags", "fields", "note", "package", "audience", "author"}
_FILE_KEYS |= {"source", "valid_from", "valid_until"}


_FILE_LISTS = {"questions", "tags"}  # lists of text; "fields" is a mapping; the rest scalars


def _read_draft_file(path: Path) -> dict[str, Any]:
    """The draft a YAML file describes, read within the import's limits and checked key by key
    (a lone string for questions was taken character by character)."""
    limits = ImportLimits.from_settings()
    try:
        if path.stat().st_size > limits.file_bytes:
            raise ValidationFailed.one(
                f"{path} is over {limits.file_bytes:,} bytes (ZHIKU_IMPORT_MAX_FILE_BYTES)",
                field="from_file",
            )
        data = yamlio.load(path.read_text(encoding="utf-8"), limits).data
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ValidationFailed.one(f"cannot read {path}: {err}", field="from_file") from None
    if not isinstance(data, dict):
        raise ValidationFailed.one(
            f"{path} must be a mapping with title, questions, tags, fields", field="from_file"
        )
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ValidationFailed.one(
            f"{path}: unknown keys {unknown}; known: {', '.join(sorted(_FILE_KEYS))}",
            field="from_file",
        )
    for key, value in data.items():
        if value is None:
            continue
        if key in _FILE_LISTS:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            wanted = "a list of texts (- one per line)"
        elif key == "fields":
            ok, wanted = isinstance(value, dict), "a mapping of field key to value"
        else:
            ok = isinstance(value, str | int | float | date)
            wanted = "one value"
        if not ok:
            raise ValidationFailed.one(
                f"{path}: {key} must be {wanted}", field=key, value=printable(str(value))
            )
    return data


def _audience(value: object) -> Audience:
    try:
        return Audience(str(value))
    except ValueError:
        raise ValidationFailed.one(
            "audience must be public or internal", field="audience", value=value
        ) from None


def draft(
    code: str = typer.Argument(..., help="Table code, e.g. TX-GH-001 (new or existing)."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    package: str | None = typer.Option(None, "--package", help="category/package of a new table."),
    title: str | None = typer.Option(None, "--title", help="Title (知识标题)."),
    question: list[str] = typer.Option(
        [], "--question", help="Similar question; repeatable; replaces the list."
    ),
    tag: list[str] = typer.Option([], "--tag", help="Tag; repeatable; replaces the list."),
    field: list[str] = typer.Option(
        [], "--field", help="KEY=VALUE by field key or label; repeat a key for list fields."
    ),
    from_file: Path | None = typer.Option(
        None, "--from-file", help="YAML with title, questions, tags, fields (options override)."
    ),
    note: str = typer.Option("", "--note", help="Change note for reviewers."),
) -> None:
    """Write a draft: a new table, an edit of your open draft, or a new draft of a live table.

    Fields not given keep their current value; an empty value (--field steps=) removes one.

    Example: kb draft TX-GH-001 --as editor1 --field answer="改号后原号码次月停止计费。"
    """
    data = _read_draft_file(from_file) if from_file else {}
    with work() as (config, session):
        user = acting(session, as_user)
        fields = {**(data.get("fields") or {}), **_parse_fields(field)}
        change = workflow.Edit(
            title=title if title is not None else data.get("title"),
            questions=list(question) or data.get("questions"),
            tags=list(tag) or data.get("tags"),
            fields=fields or None,
        )
        note = note or str(data.get("note") or "")
        if repository.table_by_code(session, code) is None:
            ref = package or data.get("package")
            if not ref:
                raise ValidationFailed.one(
                    f"table {code} does not exist yet; give --package category/package to create it",
                    field="package",
                )
            target = hierarchy.find_package(session, str(ref))
            meta = tables.TableMeta(
                audience=_audience(data.get("audience", "public")),
                author=str(data.get("author") or ""),
                source=str(data.get("source") or ""),
                valid_from=option_date(data.get("valid_from"), config, option="valid_from"),
                valid_until=option_date(
                    data.get("valid_until"), config, option="valid_until", end_of_day=True
                ),
            )
            content = change.apply(tables.TableContent(title=""))
            table = workflow.create(session, user, target, code, content, meta)
            revision = table.latest_revision
            if note:
                revision.note = note
            verb = "Created"
        else:
            revision = workflow.edit(session, user, code, change, note=note)
            verb = "Saved"
        number = revision.number
    typer.echo(
        f"{verb} draft revision {number} of {code}. Submit it with `kb submit {code} --as {as_user}`."
    )


def submit(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Send your draft to review (checked against the template; near-duplicates are warned about).

    Example: kb submit TX-GH-001 --as editor1
    """
    with work() as (_, session):
        result = workflow.submit(session, acting(session, as_user), code)
        number = result.revision.number
    for dup in result.duplicates:
        typer.echo(
            f"警告 warning: {dup.code} 「{dup.title}」 looks like the same question "
            f"(similarity {dup.score:.2f}); two tables should not answer it differently.",
            err=True,
        )
    typer.echo(f"Revision {number} of {code} is in review.")


def approve(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    comment: str = typer.Option("", "--comment", help="Review comment."),
    at: str | None = typer.Option(
        None, "--at", help="Publish later: a date (00:00 local) or ISO date-time."
    ),
    submitted_at: str | None = typer.Option(None, "--submitted-at", help=REVIEWED_HELP),
) -> None:
    """Approve the revision in review: it goes live now (or --at a later time, via the sweep).

    Example: kb approve TX-GH-001 --as reviewer1 --comment 口径已确认
    """
    with work() as (config, session):
        when = option_date(at, config, option="--at")
        revision = workflow.approve(
            session,
            acting(session, as_user),
            code,
            comment=comment,
            publish_at=when,
            allow_self_approval=config.allow_self_approval,
            reviewed=option_submission(submitted_at, config),
        )
        number, status = revision.number, workflow.status_of(revision)
        live = revision.state is RevisionState.PUBLISHED
        stale = live and is_stale(revision.table, utcnow())
        end = expires_at(revision.table)
    if status == "scheduled":
        typer.echo(f"Revision {number} of {code} approved; it goes live at {iso(when)}.")
        return
    typer.echo(f"Revision {number} of {code} is live.")
    if stale:
        typer.echo(
            f"警告 warning: {code} is stale (expired {iso(end)}), so it is hidden from search; "
            f"extend it with `kb verify {code} --until DATE`.",
            err=True,
        )


def reject(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    comment: str = typer.Option(..., "--comment", help="What the author must fix (required)."),
    submitted_at: str | None = typer.Option(None, "--submitted-at", help=REVIEWED_HELP),
) -> None:
    """Send the revision in review back to its author with a comment.

    Example: kb reject TX-GH-001 --as reviewer1 --comment "缺少办理条件"
    """
    with work() as (config, session):
        revision = workflow.reject(
            session,
            acting(session, as_user),
            code,
            comment=comment,
            reviewed=option_submission(submitted_at, config),
        )
        number, author = revision.number, revision.author
    typer.echo(f"Revision {number} of {code} rejected; {author} can fix it with `kb draft {code}`.")


def withdraw(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
) -> None:
    """Take your revision back from review (or cancel its scheduled publication) to edit it.

    Example: kb withdraw TX-GH-001 --as editor1
    """
    with work() as (_, session):
        number = workflow.withdraw(session, acting(session, as_user), code).number
    typer.echo(f"Revision {number} of {code} is a draft again.")


def archive(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    comment: str = typer.Option("", "--comment", help="Why it is retired."),
) -> None:
    """Take a live table out of service (it leaves search at once; history is kept).

    Example: kb archive TX-GH-009 --as reviewer1 --comment 业务已下线
    """
    with work() as (_, session):
        number = workflow.archive(session, acting(session, as_user), code, comment=comment).number
    typer.echo(f"{code} archived (revision {number} is no longer live).")


def rollback(
    code: str = typer.Argument(..., help="Table code."),
    to: int = typer.Option(..., "--to", min=1, max=MAX_ID, help="Revision number to go back to."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    note: str = typer.Option("", "--note", help="Change note for reviewers."),
) -> None:
    """Start a draft copying an earlier revision; it goes live once reviewed like any other.

    Example: kb rollback TX-GH-001 --to 1 --as editor1
    """
    with work() as (_, session):
        number = workflow.rollback(session, acting(session, as_user), code, to, note=note).number
    typer.echo(
        f"Draft revision {number} of {code} copies revision {to}. "
        f"Submit it with `kb submit {code} --as {as_user}`."
    )


def revisions(
    code: str = typer.Argument(..., help="Table code."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List a table's revisions with state, author and reviewer.

    Example: kb revisions TX-GH-001
    """
    with read() as (_, session):
        table = tables.get_table(session, code)
        rows = [
            {
                "revision": r.number,
                "state": workflow.status_of(r),
                "live": table.live_revision_id == r.id,
                "title": r.title,
                "author": r.author,
                "based_on": r.based_on,
                "reviewed_by": r.reviewed_by,
                "review_comment": r.review_comment,
                "created_at": stamp(r.created_at),
                "published_at": stamp(r.published_at),
                "publish_at": stamp(r.publish_at),
            }
            for r in table.revisions
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ("rev", "state", "title", "author", "based on", "reviewed by", "comment"),
        [
            (
                r["revision"],
                f"{r['state']}{' (live)' if r['live'] else ''}",
                r["title"],
                r["author"],
                r["based_on"],
                r["reviewed_by"],
                r["review_comment"],
            )
            for r in rows
        ],
        f"{code} revisions",
    )


def show_diff(
    code: str = typer.Argument(..., help="Table code."),
    a: int = typer.Argument(..., min=1, max=MAX_ID, help="Older revision number."),
    b: int = typer.Argument(..., min=1, max=MAX_ID, help="Newer revision number."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Field-by-field differences between two revisions.

    Example: kb diff TX-GH-001 1 2
    """
    with read() as (_, session):
        found = diff.diff(session, code, a, b)
    if as_json:
        print_json(found.to_dict())
        return
    typer.echo(found.render())


def verify(
    code: str = typer.Argument(..., help="Table code."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    until: str | None = typer.Option(
        None, "--until", help="New valid_until: a date (valid through that day) or ISO date-time."
    ),
    comment: str = typer.Option("", "--comment", help="What was checked."),
) -> None:
    """Record that a live table was re-verified; --until extends its validity.

    Example: kb verify TX-GH-001 --as reviewer1 --until 2027-12-31
    """
    with work() as (config, session):
        when = option_date(until, config, option="--until", end_of_day=True)
        table = staleness.verify(
            session, acting(session, as_user), code, until=when, comment=comment
        )
        end = expires_at(table)
        limits = [f"valid_until {iso(table.valid_until)}"] if table.valid_until else []
        if table.package.review_interval_days:
            limits.append(f"re-verify every {table.package.review_interval_days} days")
    why = f" ({'; '.join(limits)})" if limits else ""
    typer.echo(f"{code} verified; it stays valid until {iso(end)}{why}.")


def flag(
    code: str = typer.Argument(..., help="Table code."),
    reason: str = typer.Option(..., "--reason", help="wrong, outdated, unclear or duplicate."),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    comment: str = typer.Option("", "--comment", help="What is wrong."),
) -> None:
    """Flag a live table for the reviewers (wrong, outdated, unclear, duplicate).

    Example: kb flag TX-GH-001 --reason outdated --as agent1 --comment "资费已调整"
    """
    with work() as (_, session):
        raised = flags.raise_flag(session, acting(session, as_user), code, reason, comment)
        flag_id = raised.id
    typer.echo(f"Flag {flag_id} on {code} ({reason}) is in the reviewers' queue.")


def dismiss(
    flag_id: int = typer.Argument(
        ..., min=1, max=MAX_ID, help="Flag id (from `kb review flagged`)."
    ),
    as_user: str = typer.Option(..., "--as", envvar="ZHIKU_USER", help=AS_HELP),
    comment: str = typer.Option(..., "--comment", help="Why the table is right as it is."),
) -> None:
    """Dismiss an agent's flag with a comment (fixing or re-verifying the table resolves it too).

    Example: kb dismiss 12 --as reviewer1 --comment "已核实，答复正确"
    """
    with work() as (_, session):
        closed = flags.dismiss(session, acting(session, as_user), flag_id, comment)
        code = closed.table.code
    typer.echo(f"Flag {flag_id} on {code} dismissed.")


def sweep(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Publish due scheduled revisions and record tables that went stale (the service does this on a timer).

    Example: kb sweep
    """
    with work() as (_, session):
        report = staleness.sweep(session)
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"Published {len(report.published)} scheduled, expired {len(report.expired)}, "
        f"revived {len(report.revived)}."
    )
    for label, codes in (("published", report.published), ("expired", report.expired)):
        if codes:
            typer.echo(f"  {label}: {', '.join(codes)}")
    for held in report.held:
        typer.echo(f"  back in review, not published: {held}")


def audit_log(
    code: str = typer.Argument(..., help="Table code."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Every recorded action on a table: who, when, what, with comments.

    Example: kb audit TX-GH-001
    """
    with read() as (_, session):
        tables.get_table(session, code)
        entries = list(repository.audit_for(session, "table", code))
    if as_json:
        print_json(
            [
                {
                    "at": stamp(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "revision": e.revision,
                    "comment": e.comment,
                    "detail": e.detail,
                }
                for e in entries
            ]
        )
        return
    print_table(
        ("at (UTC)", "actor", "action", "rev", "comment"),
        [(iso(e.at), e.actor, e.action, e.revision, e.comment) for e in entries],
        f"{code} audit",
    )
