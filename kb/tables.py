"""Rules for knowledge tables and their revisions: creating, editing, moving, going live.

The review workflow (``kb.workflow``) decides *when* a revision may go live; this module holds
the primitives it and the importer share, each keeping the model's invariants: codes unique,
fields valid against the package template, at most one live revision per table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kb import audit, changes, repository
from kb.clock import utcnow
from kb.content_limits import (
    MAX_LIST_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_QUESTION_CHARS,
    MAX_QUESTIONS,
    MAX_RELATED,
    MAX_TAG_CHARS,
    MAX_TAGS,
    MAX_TEXT_FIELD_CHARS,
    MAX_TITLE_CHARS,
)
from kb.errors import Conflict, NotFound, Problem, ValidationFailed
from kb.hierarchy import package_path, specs_of
from kb.models import (
    Audience,
    FieldTemplate,
    KnowledgeTable,
    Package,
    Revision,
    RevisionState,
    TableLink,
)
from kb.templates import FieldSpec, check_fields, normalize_strings

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass
class TableContent:
    """What a revision holds: the reviewed content of a table."""

    title: str
    questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableMeta:
    """Identity and governance metadata held on the table itself."""

    audience: Audience = Audience.PUBLIC
    author: str = ""
    source: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    last_verified_at: datetime | None = None


# Metadata that decides who sees a table and when: changing it is reviewed like content, so a
# change rides on a revision (``Revision.proposed``) and applies when that revision goes live.
GOVERNED = ("audience", "valid_from", "valid_until")


def meta_json(value: Any) -> Any:
    """A metadata value as a revision's proposal stores it (JSON)."""
    if isinstance(value, Audience):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def meta_of(table: KnowledgeTable) -> TableMeta:
    return TableMeta(
        audience=table.audience,
        author=table.author,
        source=table.source,
        valid_from=table.valid_from,
        valid_until=table.valid_until,
        last_verified_at=table.last_verified_at,
    )


def proposal_of(table: KnowledgeTable, meta: TableMeta) -> dict[str, Any]:
    """The governed values of ``meta`` that differ from ``table``'s, as JSON for a revision."""
    return {
        key: meta_json(getattr(meta, key))
        for key in GOVERNED
        if getattr(meta, key) != getattr(table, key)
    }


def with_proposal(meta: TableMeta, proposed: dict[str, Any] | None) -> TableMeta:
    """``meta`` with a revision's proposed values applied."""
    changed = replace(meta)
    for key, value in (proposed or {}).items():
        if key == "audience":
            changed.audience = Audience(value)
        elif key in ("valid_from", "valid_until"):
            setattr(changed, key, None if value is None else datetime.fromisoformat(value))
    return changed


def note_contributor(revision: Revision, name: str) -> None:
    """Record that ``name`` wrote into ``revision`` (they may not approve it)."""
    known = list(revision.contributors or [revision.author])
    if name not in known:
        revision.contributors = [*known, name]


def writers_of(revision: Revision) -> list[str]:
    """Everyone who wrote into ``revision``, its author first."""
    return list(revision.contributors or [revision.author])


def check_code(code: Any, location: str | None = None) -> list[Problem]:
    if not isinstance(code, str) or not CODE_RE.match(code):
        return [
            Problem(
                "code must be 1–64 ASCII letters, digits, '-', '_' or '.', starting with a letter "
                "or digit (e.g. TX-GH-001)",
                "code",
                code,
                location,
            )
        ]
    return []


def check_content(
    package: Package,
    content: TableContent,
    location: str | None = None,
    *,
    template: FieldTemplate | None = None,
) -> tuple[TableContent, list[Problem]]:
    """Content normalized against the package's current template (or ``template``, one of
    its versions), and every problem found."""
    problems: list[Problem] = []
    title = content.title.strip() if isinstance(content.title, str) else ""
    if not title or len(title) > MAX_TITLE_CHARS:
        shown = content.title if len(str(content.title)) <= 400 else len(content.title)
        problems.append(
            Problem(f"title must be 1–{MAX_TITLE_CHARS} characters", "title", shown, location)
        )
    questions, qp = normalize_strings(content.questions, field="questions", location=location)
    tags, tp = normalize_strings(content.tags, field="tags", location=location)
    questions = [q for q in questions if q != title]
    template = template or package.template
    specs = specs_of(template)
    fields, fp = check_fields(
        specs,
        content.fields,
        package=package_path(package),
        template_version=template.version,
        location=location,
    )
    problems += qp + tp + fp
    problems += _list_caps(
        "questions", "similar questions", questions, MAX_QUESTIONS, MAX_QUESTION_CHARS, location
    )
    problems += _list_caps("tags", "tags", tags, MAX_TAGS, MAX_TAG_CHARS, location)
    problems += _field_caps(specs, fields, location)
    return TableContent(title=title, questions=questions, tags=tags, fields=fields), problems


def _list_caps(
    field: str, what: str, items: list[str], most: int, chars: int, location: str | None
) -> list[Problem]:
    """Too many items, or items too long; the value is a count, never the whole list."""
    problems = []
    if len(items) > most:
        problems.append(
            Problem(
                f"at most {most} {what} per table, got {len(items):,}; keep the distinct ones",
                field,
                len(items),
                location,
            )
        )
    long = [i for i, item in enumerate(items) if len(item) > chars]
    if long:
        problems.append(
            Problem(
                f"{what} may be at most {chars:,} characters each; item "
                f"{long[0] + 1} has {len(items[long[0]]):,}"
                + (f" ({len(long)} items are too long)" if len(long) > 1 else ""),
                f"{field}[{long[0]}]",
                len(items[long[0]]),
                location,
            )
        )
    return problems


def _field_caps(
    specs: list[FieldSpec], fields: dict[str, Any], location: str | None
) -> list[Problem]:
    labels = {s.key: s.label for s in specs}
    problems = []
    for key, value in fields.items():
        label = labels.get(key, key)
        if isinstance(value, list):
            problems += _list_caps(
                key, f"items of {label}", value, MAX_LIST_ITEMS, MAX_LIST_ITEM_CHARS, location
            )
        elif len(value) > MAX_TEXT_FIELD_CHARS:
            problems.append(
                Problem(
                    f"{label} may be at most {MAX_TEXT_FIELD_CHARS:,} characters, got "
                    f"{len(value):,}; split the topic into several tables",
                    key,
                    len(value),
                    location,
                )
            )
    return problems


def check_meta(meta: TableMeta, location: str | None = None) -> list[Problem]:
    if meta.valid_from and meta.valid_until and meta.valid_until <= meta.valid_from:
        return [
            Problem(
                f"valid_until must be after valid_from ({meta.valid_from.isoformat()})",
                "valid_until",
                meta.valid_until.isoformat(),
                location,
            )
        ]
    return []


def get_table(session: Session, code: str) -> KnowledgeTable:
    table = repository.table_by_code(session, code)
    if table is None:
        raise NotFound(f"No knowledge table with code {code!r}.")
    return table


def create_table(
    session: Session,
    package: Package,
    code: str,
    content: TableContent,
    meta: TableMeta,
    *,
    actor: str,
    state: RevisionState = RevisionState.DRAFT,
    note: str = "",
    template: FieldTemplate | None = None,
) -> KnowledgeTable:
    """A new table with its first revision (draft by default, or published by an import).

    Args:
        template: the version of the package's template the content is written under (an
            import recreating a table written before a template change); default the current.
    """
    problems = check_code(code) + check_meta(meta)
    clean, content_problems = check_content(package, content, template=template)
    problems += content_problems
    if problems:
        raise ValidationFailed(f"Table {code} is not valid.", problems=problems)
    if repository.table_by_code(session, code) is not None:
        raise Conflict(f"A knowledge table with code {code!r} already exists; codes are unique.")
    table = KnowledgeTable(code=code, package=package, **vars(meta))
    session.add(table)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        object_type="table",
        object_key=code,
        detail={"package": package_path(package)},
    )
    add_revision(
        session,
        table,
        clean,
        actor=actor,
        state=state,
        note=note,
        checked=True,
        template=template,
    )
    return table


def add_revision(
    session: Session,
    table: KnowledgeTable,
    content: TableContent,
    *,
    actor: str,
    state: RevisionState = RevisionState.DRAFT,
    note: str = "",
    based_on: int | None = None,
    checked: bool = False,
    proposed: dict[str, Any] | None = None,
    template: FieldTemplate | None = None,
) -> Revision:
    """Append a revision; a published one goes live at once (replacing the old live one).

    Args:
        proposed: audience / validity changes (see :func:`proposal_of`) the revision applies
            when it goes live.
        template: the version of the package's template the content is written under;
            default the current.
    """
    template = template or table.package.template
    if not checked:
        content, problems = check_content(table.package, content, template=template)
        if problems:
            raise ValidationFailed(
                f"Revision of table {table.code} is not valid.", problems=problems
            )
    number = (table.revisions[-1].number + 1) if table.revisions else 1
    now = utcnow()
    revision = Revision(
        table=table,
        number=number,
        state=RevisionState.DRAFT,
        title=content.title,
        questions=list(content.questions),
        tags=list(content.tags),
        fields=dict(content.fields),
        template_version=template.version,
        author=actor,
        contributors=[actor],
        proposed=proposed or None,
        note=note,
        based_on=based_on,
        created_at=now,
    )
    session.add(revision)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="revise",
        object_type="table",
        object_key=table.code,
        revision=number,
        comment=note,
    )
    if state is RevisionState.PUBLISHED:
        make_live(session, revision, actor=actor)
    elif state is not RevisionState.DRAFT:
        revision.state = state
    return revision


def make_live(session: Session, revision: Revision, *, actor: str, comment: str = "") -> None:
    """Publish ``revision``: the previous live revision is archived in the same transaction."""
    table = revision.table
    now = utcnow()
    previous = table.live_revision
    if previous is not None and previous.id != revision.id:
        previous.state = RevisionState.ARCHIVED
    revision.state = RevisionState.PUBLISHED
    revision.published_at = now
    table.live_revision = revision
    table.expired_at = None
    session.flush()
    changes.mark(session, table.id)
    audit.record(
        session,
        actor=actor,
        action="publish",
        object_type="table",
        object_key=table.code,
        revision=revision.number,
        comment=comment,
    )
    if revision.proposed:
        update_meta(
            session,
            table,
            with_proposal(meta_of(table), revision.proposed),
            actor=actor,
            comment=f"proposed in revision {revision.number}",
        )


def update_meta(
    session: Session, table: KnowledgeTable, meta: TableMeta, *, actor: str, comment: str = ""
) -> bool:
    """Apply changed metadata; returns whether anything changed.

    This is the primitive: callers decide whether the actor may change audience and validity
    at once (:mod:`kb.meta_changes`, the importer).
    """
    problems = check_meta(meta)
    if problems:
        raise ValidationFailed(f"Table {table.code} metadata is not valid.", problems=problems)
    changed = {k: v for k, v in vars(meta).items() if getattr(table, k) != v}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(table, key, value)
    session.flush()
    changes.mark(session, table.id)
    audit.record(
        session,
        actor=actor,
        action="update",
        object_type="table",
        object_key=table.code,
        comment=comment,
        detail={
            k: (v.isoformat() if isinstance(v, datetime) else str(v)) for k, v in changed.items()
        },
    )
    return True


def move_table(session: Session, table: KnowledgeTable, package: Package, *, actor: str) -> None:
    """Move a table to another package; its live and latest content must satisfy the new
    template, under which every revision is read from then on.

    A revision's template version counts in its package's history: kept as it was, a version
    of the old package would be read as the new package's version of that number (which fields
    are internal included). Who may move a table is the caller's check (kb.meta_changes).
    """
    if table.package_id == package.id:
        return
    for revision in dict.fromkeys(r for r in (table.live_revision, table.latest_revision) if r):
        _, problems = check_content(package, content_of(revision))
        if problems:
            raise ValidationFailed(
                f"Table {table.code} cannot move to {package_path(package)}: the fields of its "
                f"revision {revision.number} do not fit that package's template; edit them first.",
                problems=problems,
            )
    old = package_path(table.package)
    table.package = package
    for revision in table.revisions:
        revision.template_version = package.template.version
    session.flush()
    changes.mark(session, table.id)
    audit.record(
        session,
        actor=actor,
        action="move",
        object_type="table",
        object_key=table.code,
        detail={"from": old, "to": package_path(package)},
    )


def set_links(session: Session, table: KnowledgeTable, codes: list[str], *, actor: str) -> bool:
    """Replace a table's related-table links; unknown codes and self-links are refused."""
    codes = list(dict.fromkeys(codes))
    if len(codes) > MAX_RELATED:
        raise ValidationFailed.one(
            f"at most {MAX_RELATED} related tables per table, got {len(codes)}",
            field="related",
            value=len(codes),
        )
    if table.code in codes:
        raise ValidationFailed.one(
            "a table cannot be related to itself", field="related", value=table.code
        )
    found = repository.tables_by_codes(session, codes)
    missing = [c for c in codes if c not in found]
    if missing:
        raise ValidationFailed.one(
            f"related tables not found: {', '.join(missing)}", field="related", value=missing
        )
    if [t.code for t in table.related] == codes:
        return False
    session.query(TableLink).filter(TableLink.table_id == table.id).delete()
    for position, code in enumerate(codes):
        session.add(TableLink(table_id=table.id, related_id=found[code].id, position=position))
    session.flush()
    session.expire(table, ["related"])
    changes.mark(session, table.id)
    audit.record(
        session,
        actor=actor,
        action="link",
        object_type="table",
        object_key=table.code,
        detail={"related": codes},
    )
    return True


def current_content(table: KnowledgeTable, revision: Revision) -> TableContent:
    """``revision``'s content without the fields its package's current template no longer has:
    what a new draft, an edit, a submission or a rollback starts from (a field dropped from the
    template made every later edit of its tables fail; the drop shows in the revision's diff)."""
    return within_template(content_of(revision), table.package.template)


def within_template(content: TableContent, template: FieldTemplate) -> TableContent:
    """``content`` without the fields ``template`` does not name (fields it dropped)."""
    known = {spec.key for spec in specs_of(template)}
    fields = {k: v for k, v in content.fields.items() if k in known}
    return content if len(fields) == len(content.fields) else replace(content, fields=fields)


def content_of(revision: Revision) -> TableContent:
    return TableContent(
        title=revision.title,
        questions=list(revision.questions),
        tags=list(revision.tags),
        fields=dict(revision.fields),
    )
