"""Domain objects → response schemas. Built inside the request, while the session is open."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from api import schemas, schemas_agent
from kb import agent_view, portal, tables, workflow
from kb.hierarchy import package_path, specs_of
from kb.models import AuditEntry, Flag, KnowledgeTable, Package, Revision
from kb.search_contract import Suggestion
from kb.templates import FieldSpec
from kb.visibility import expires_at, is_stale
from presenters import Entry, PresentOptions, present
from presenters.fields import Format, render_value
from presenters.scripts import Script, script_of, to_simplified, to_traditional
from presenters.search_json import (
    EXPIRING_SOON_DAYS,
    AnswerFormat,
    my_flags,
    rendering_out,
    renderings_out,
    snippet_of,
)


def faq_tree(tree: list[portal.CategoryNode]) -> schemas.FaqTree:
    return schemas.FaqTree(
        categories=[
            schemas.FaqCategory(
                name=c.name,
                description=c.description,
                packages=[
                    schemas.FaqPackage(
                        name=p.name,
                        description=p.description,
                        tables=[schemas.FaqTableRef(code=t.code, title=t.title) for t in p.tables],
                    )
                    for p in c.packages
                ],
            )
            for c in tree
        ]
    )


def faq_table(table: portal.PublicTable, fmt: Format) -> schemas.FaqTable:
    fields = [
        schemas.FaqField(
            key=f.key, label=f.label, type=f.type.value, content=render_value(f.value, f.type, fmt)
        )
        for f in table.fields
    ]
    answer = next((f.content for f in fields if f.key == "answer"), None)
    return schemas.FaqTable(
        code=table.code,
        title=table.title,
        path=[table.category, table.package, table.title],
        tags=table.tags,
        format=fmt.value,
        answer=answer,
        fields=fields,
        published_at=table.published_at,
        last_verified_at=table.last_verified_at,
        expires_at=table.valid_until,
        related=[schemas.FaqTableRef(code=r.code, title=r.title) for r in table.related],
    )


def field_specs(specs: list[FieldSpec]) -> list[schemas.FieldSpecIO]:
    return [
        schemas.FieldSpecIO.model_validate({**s.to_dict(), "customer_sees": s.customer_sees})
        for s in specs
    ]


def package_ref(package: Package) -> schemas.PackageRef:
    return schemas.PackageRef(
        name=package.name,
        path=package_path(package),
        description=package.description,
        review_interval_days=package.review_interval_days,
        owner=package.owner,
        template_version=package.template.version,
        tables=len(package.tables),
    )


def table_row(table: KnowledgeTable) -> schemas.TableRow:
    latest = table.latest_revision
    live = table.live_revision
    return schemas.TableRow(
        code=table.code,
        title=table.title,
        package=package_path(table.package),
        audience=table.audience.value,
        state=workflow.status_of(latest),
        latest_revision=latest.number,
        live_revision=live.number if live is not None else None,
        expires_at=expires_at(table) if live is not None else None,
        updated_at=table.updated_at,
    )


def package_out(package: Package) -> schemas.PackageOut:
    ref = package_ref(package)
    return schemas.PackageOut(
        **ref.model_dump(),
        category=package.category.name,
        template=field_specs(specs_of(package.template)),
        table_rows=[table_row(t) for t in sorted(package.tables, key=lambda t: t.code)],
    )


def revision_out(revision: Revision) -> schemas.RevisionOut:
    return schemas.RevisionOut(
        number=revision.number,
        state=workflow.status_of(revision),
        title=revision.title,
        questions=list(revision.questions),
        tags=list(revision.tags),
        fields=dict(revision.fields),
        template_version=revision.template_version,
        author=revision.author,
        contributors=tables.writers_of(revision),
        proposed=revision.proposed,
        note=revision.note,
        based_on=revision.based_on,
        created_at=revision.created_at,
        submitted_at=revision.submitted_at,
        reviewed_by=revision.reviewed_by,
        reviewed_at=revision.reviewed_at,
        review_comment=revision.review_comment,
        publish_at=revision.publish_at,
        published_at=revision.published_at,
    )


def flag_out(flag: Flag) -> schemas.FlagOut:
    return schemas.FlagOut(
        id=flag.id,
        code=flag.table.code,
        revision=flag.revision_number,
        reason=flag.reason,
        comment=flag.comment,
        raised_by=flag.raised_by,
        raised_at=flag.raised_at,
    )


def table_out(
    table: KnowledgeTable,
    now: datetime,
    *,
    open_flags: list[Flag],
    usage: dict[str, object],
) -> schemas.TableOut:
    latest = table.latest_revision
    live = table.live_revision
    return schemas.TableOut(
        code=table.code,
        title=table.title,
        category=table.package.category.name,
        package=table.package.name,
        audience=table.audience.value,
        author=table.author,
        source=table.source,
        valid_from=table.valid_from,
        valid_until=table.valid_until,
        last_verified_at=table.last_verified_at,
        expires_at=expires_at(table) if live is not None else None,
        expired=live is not None and is_stale(table, now),
        state=workflow.status_of(latest),
        allowed_actions=list(workflow.allowed_actions(table)),
        live_revision=live.number if live is not None else None,
        template=field_specs(specs_of(table.package.template)),
        latest=revision_out(latest),
        live=revision_out(live) if live is not None else None,
        revisions=[
            schemas.RevisionBrief(
                number=r.number,
                state=workflow.status_of(r),
                title=r.title,
                author=r.author,
                created_at=r.created_at,
                note=r.note,
                based_on=r.based_on,
                reviewed_by=r.reviewed_by,
                review_comment=r.review_comment,
                publish_at=r.publish_at,
                published_at=r.published_at,
            )
            for r in reversed(table.revisions)
        ],
        related=[schemas.FaqTableRef(code=t.code, title=t.title) for t in table.related],
        open_flags=[flag_out(f) for f in open_flags],
        usage=usage,
    )


def agent_table(
    table: agent_view.AgentTable,
    fmt: AnswerFormat,
    now: datetime,
    *,
    flags: Sequence[Any],
    options: PresentOptions,
    renderings: bool,
    traditional: str | None,
) -> schemas_agent.AgentTableOut:
    """The agent's entry; a channel ``fmt`` adds that channel's ``rendering`` (in Traditional
    too when ``traditional`` names an OpenCC variant)."""
    entry = Entry.of(
        code=table.code,
        title=table.title,
        path=(table.category, table.package),
        fields=table.fields,
        public=agent_view.is_public(table),
    )
    channel = fmt.channel
    field_format = Format.PLAIN if channel is not None else Format(fmt.value)
    rendering = (
        rendering_out(present(entry, channel, options, traditional=traditional))
        if channel is not None
        else None
    )
    end = table.expires_at
    return schemas_agent.AgentTableOut(
        code=table.code,
        title=table.title,
        path=[table.category, table.package, table.title],
        audience=table.audience,
        revision=table.revision,
        questions=table.questions,
        tags=table.tags,
        format=fmt.value,
        fields=[
            schemas_agent.AgentField(
                key=f.key,
                label=f.label,
                type=f.type.value,
                internal=f.audience == "internal",
                content=render_value(f.value, f.type, field_format),
            )
            for f in table.fields
        ],
        author=table.author,
        source=table.source,
        published_at=table.published_at,
        valid_from=table.valid_from,
        valid_until=table.valid_until,
        last_verified_at=table.last_verified_at,
        expires_at=end,
        expired=table.expired,
        expiring_soon=end is not None
        and not table.expired
        and end - now <= timedelta(days=EXPIRING_SOON_DAYS),
        related=[schemas.FaqTableRef(code=r.code, title=r.title) for r in table.related],
        my_flags=my_flags(flags),
        rendering=rendering,
        renderings=renderings_out(entry, options) if renderings else None,
        traditional=renderings_out(entry, options, traditional)
        if renderings and traditional
        else None,
    )


def audit_out(entry: AuditEntry) -> schemas.AuditOut:
    return schemas.AuditOut.model_validate(entry, from_attributes=True)


# ---------------------------------------------------------------- search results


def match_of(suggestion: Suggestion) -> portal.Match:
    """The suggestion's best-matching field as a Match (snippet text and highlighted HTML)."""
    snippet = snippet_of(suggestion)
    return portal.Match(
        field=snippet.field, label=snippet.label, text=snippet.text, html=snippet.html
    )


def in_script_of(query: str, match: portal.Match | None) -> portal.Match | None:
    """The match line in the script of the question: a similar question stored in Traditional
    is shown in Simplified to a customer who asked in Simplified, and the other way round.

    OpenCC only maps Han characters, so the escaped HTML and its <mark> tags pass unchanged.
    """
    if match is None:
        return None
    if script_of(query) is Script.TRADITIONAL:
        text, marked = to_traditional(match.text, "s2t"), to_traditional(match.html, "s2t")
    else:
        text, marked = to_simplified(match.text), to_simplified(match.html)
    return portal.Match(field=match.field, label=match.label, text=text, html=marked)


def customer_match_of(query: str) -> Callable[[Suggestion], portal.Match | None]:
    """:func:`match_of` for the customer portal: the match line in the question's script."""
    return lambda suggestion: in_script_of(query, match_of(suggestion))


def _snippet(match: portal.Match | None) -> schemas.Snippet | None:
    if match is None:
        return None
    return schemas.Snippet(field=match.field, label=match.label, text=match.text, html=match.html)


CONTACT = "没有找到合适的答案？请拨打客服热线 10000，或在 App「我的 › 在线客服」联系人工客服。"


def faq_search(
    query: str, found: portal.CustomerResults, fmt: Format, query_log_id: int | None = None
) -> schemas.FaqSearchOut:
    return schemas.FaqSearchOut(
        query=query,
        format=fmt.value,
        abstained=found.abstained,
        threshold=found.result.threshold,
        results=[
            schemas.FaqHit(
                code=h.code,
                title=h.title,
                path=[h.category, h.package, h.title],
                confidence=round(h.confidence, 4),
                snippet=_snippet(h.match),
                answer=render_value(h.answer.value, h.answer.type, fmt) if h.answer else "",
            )
            for h in found.hits
        ],
        query_log_id=query_log_id,
        contact=CONTACT,
    )
