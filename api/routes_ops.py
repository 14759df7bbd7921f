"""Admin endpoints around the content: import/export, audit log, dictionary, health and identity."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy import func, select

from api import limits, schemas, uploads, views
from api.deps import CurrentUser, DbSession, Now, RuntimeDep, after_commit, require
from api.errors import documented
from api.inputs import PageNumber
from kb import dictionary, repository
from kb.models import AuditEntry, KnowledgeTable, User
from kb.permissions import GRANTS, Action, check
from kb.search_contract import SearchRequest
from kb.transfer.exporter import export_files
from kb.visibility import Channel
from presenters.search_json import search_json

router = APIRouter(tags=["admin: operations"])


@router.get("/api/health", summary="Liveness: the service and its database answer")
def health(session: DbSession) -> schemas.Health:
    """Public, so it tells nothing about the content; admins see more at /api/admin/health."""
    session.execute(select(1))
    return schemas.Health()


@router.get(
    "/api/admin/health",
    summary="What the service holds: index, counts, last sweep (admins)",
    responses=documented(401, 403, 429),
)
def health_detail(
    session: DbSession,
    runtime: RuntimeDep,
    _user: Annotated[User, Depends(require(Action.VIEW_HEALTH))],
) -> schemas.HealthDetail:
    status = getattr(runtime.service, "status", None)
    index = status() if callable(status) else {}
    return schemas.HealthDetail(
        database=runtime.db.engine.dialect.name,
        tables=repository.count(session, KnowledgeTable),
        live_tables=repository.live_revision_count(session),
        index=index if isinstance(index, dict) else {"status": str(index)},
        uptime_s=round(time.time() - runtime.started_at, 1),
        last_sweep=runtime.last_sweep,
        retuning=runtime.retuning,
        replica=runtime.replica.status() if runtime.replica is not None else {},
    )


@router.get(
    "/api/me",
    summary="Who the bearer token belongs to, and what they may do",
    responses=documented(401, 429),
)
def me(user: CurrentUser) -> schemas.Me:
    return schemas.Me(
        name=user.name,
        display_name=user.display_name or user.name,
        role=user.role.value,
        scopes=list(user.scopes),
        actions=sorted(a.value for a in GRANTS[user.role]),
    )


@router.get(
    "/api/admin/audit", summary="The audit trail, newest first", responses=documented(401, 403, 429)
)
def audit_log(
    session: DbSession,
    _user: Annotated[User, Depends(require(Action.VIEW_AUDIT))],
    object_type: Annotated[str | None, Query(max_length=30, description="table, package…")] = None,
    key: Annotated[str | None, Query(max_length=100, description="A table code or a name")] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    page: PageNumber = 1,
    page_size: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = 50,
) -> schemas.AuditList:
    query = select(AuditEntry)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if key:
        query = query.where(AuditEntry.object_key == key)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return schemas.AuditList(
        total=total, page=page, page_size=page_size, entries=[views.audit_out(e) for e in rows]
    )


@router.get(
    "/api/admin/synonyms",
    summary="The synonym dictionary (同义词)",
    responses=documented(401, 403, 429),
)
def get_synonyms(
    session: DbSession, _user: Annotated[User, Depends(require(Action.SEARCH))]
) -> schemas.SynonymsIO:
    return schemas.SynonymsIO(synonyms=repository.synonym_groups(session))


@router.put(
    "/api/admin/synonyms",
    summary="Replace the synonym dictionary; search uses it at once",
    responses=documented(401, 403, 429),
)
def put_synonyms(
    body: schemas.SynonymsIO,
    session: DbSession,
    runtime: RuntimeDep,
    user: Annotated[User, Depends(require(Action.MANAGE_DICTIONARY))],
) -> schemas.SynonymsIO:
    if dictionary.replace_synonyms(session, body.synonyms, actor=user.name):
        after_commit(session, runtime.reload_dictionary)
    return schemas.SynonymsIO(synonyms=repository.synonym_groups(session))


@router.get(
    "/api/admin/terms", summary="The domain-term list (领域词)", responses=documented(401, 403, 429)
)
def get_terms(
    session: DbSession, _user: Annotated[User, Depends(require(Action.SEARCH))]
) -> schemas.TermsIO:
    return schemas.TermsIO(terms=repository.domain_terms(session))


@router.put(
    "/api/admin/terms",
    summary="Replace the domain-term list; search uses it at once",
    responses=documented(401, 403, 429),
)
def put_terms(
    body: schemas.TermsIO,
    session: DbSession,
    runtime: RuntimeDep,
    user: Annotated[User, Depends(require(Action.MANAGE_DICTIONARY))],
) -> schemas.TermsIO:
    if dictionary.replace_terms(session, body.terms, actor=user.name):
        after_commit(session, runtime.reload_dictionary)
    return schemas.TermsIO(terms=repository.domain_terms(session))


@router.post(
    "/api/admin/import",
    summary="Import a CSV, XLSX or zipped YAML directory, all or nothing",
    responses=documented(401, 403, 409, 413, 429),
)
def import_upload(
    session: DbSession,
    runtime: RuntimeDep,
    user: Annotated[User, Depends(require(Action.IMPORT))],
    file: Annotated[UploadFile, File(description=".csv, .xlsx, or .zip of a content directory")],
    draft: Annotated[bool, Form(description="Import new and changed content as drafts")] = False,
) -> schemas.ImportOut:
    """Any problem refuses the whole file: 422 with every problem (file, row or line, field).

    The import asks for the rights its changes need, checked before anything is written: 403
    lists each change the user may not make (a table outside their scope, a new category or
    package, a template or the dictionary, publishing without review). As drafts
    (``draft=true``), changed content and changes of audience or validity go to review."""
    if not draft:
        check(user, Action.PUBLISH)
    report = uploads.import_upload(
        session, file, user=user, draft=draft, zone=runtime.settings.zone
    )
    if getattr(report, "dictionary_changed", False):
        after_commit(session, runtime.reload_dictionary)
    return schemas.ImportOut(
        created=report.created,
        revised=report.revised,
        proposed=report.proposed,
        unchanged=report.unchanged,
        categories=report.categories,
        packages=report.packages,
        published=not draft,
    )


@router.get(
    "/api/admin/export",
    summary="Export the knowledge base as a zip of YAML content files",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}, **documented(401, 403, 429)},
)
def export_zip(
    session: DbSession, _user: Annotated[User, Depends(require(Action.EXPORT))]
) -> Response:
    data = uploads.zip_files(export_files(session))
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="zhiku-export.zip"'},
    )


@router.get(
    "/api/admin/hit-test",
    summary="Hit test: one query through the live search path",
    responses=documented(401, 403, 429),
)
def hit_test(
    runtime: RuntimeDep,
    now: Now,
    _user: Annotated[User, Depends(require(Action.VIEW_QUEUES))],
    q: Annotated[str, Query(min_length=1, max_length=limits.MAX_QUERY_CHARS)],
    channel: Annotated[
        Channel, Query(description="Whose rules apply: agent or customer")
    ] = Channel.AGENT,
    k: Annotated[int, Query(ge=1, le=limits.MAX_K)] = 10,
    mode: Annotated[str, Query(pattern="^(hybrid|bm25|dense)$")] = "hybrid",
    include_expired: bool = False,
    threshold: Annotated[
        float | None,
        Query(ge=0.0, le=1.0, description="Try another abstention threshold (default: calibrated)"),
    ] = None,
) -> schemas.HitTestOut:
    """Exactly what production search returns for this query and channel (not logged).

    With `threshold`, `abstained` says what the search would have done at that threshold.
    """
    started = time.perf_counter()
    request = SearchRequest(
        q.strip(), channel, k=k, mode=mode, include_expired=include_expired, at=now
    )
    result = runtime.search(request)
    took_ms = (time.perf_counter() - started) * 1000
    out = search_json(result, now=now, took_ms=took_ms)
    calibrated = result.threshold
    used = calibrated if threshold is None else threshold
    # Without a threshold of its own the search's verdict stands; with one, the search's rule
    # (abstain when its first suggestion is less confident than that) at the threshold given.
    abstained = (
        out.abstained
        if threshold is None
        else not out.suggestions or out.suggestions[0].confidence < used
    )
    return schemas.HitTestOut(
        **out.model_dump(exclude={"abstained", "threshold"}),
        abstained=abstained,
        threshold=used,
        default_threshold=calibrated,
    )
