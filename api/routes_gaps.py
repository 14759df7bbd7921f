"""Admin endpoints that close the loop: knowledge gaps → drafts, and the golden set.

Gap clusters are recomputed from the query log on every call (same log, same clusters, same
numbers), as ``kb gaps`` does; the draft and attach actions take the window the list was
loaded with, and ``expected_name`` to refuse acting on a cluster that was renumbered since.
Both actions write ordinary drafts: nothing goes live without review.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api import schemas_loop as out
from api import uploads
from api.deps import DbSession, Now, RuntimeDep, require
from api.errors import documented
from api.inputs import Id
from api.routes_usage import Days, gap_out
from api.runtime import Runtime
from kb import gaps, golden, hierarchy, tables, workflow
from kb.models import GoldenQuery, Revision, User
from kb.permissions import Action, check

router = APIRouter(
    prefix="/api/admin", tags=["admin: usage and gaps"], responses=documented(401, 403, 429)
)

Reader = Annotated[User, Depends(require(Action.VIEW_QUEUES))]
Drafter = Annotated[User, Depends(require(Action.DRAFT))]
Reviewer = Annotated[User, Depends(require(Action.REVIEW))]
Threshold = Annotated[
    float, Query(ge=0.0, le=1.0, description="Cosine similarity that joins a cluster")
]
Floor = Annotated[
    float, Query(ge=0.0, le=1.0, description="Below this confidence a search is a gap")
]


def _clusters(
    session: Session,
    runtime: Runtime,
    now: datetime,
    days: int,
    threshold: float,
    floor: float,
) -> list[gaps.GapCluster]:
    return gaps.find_clusters(
        session,
        runtime.embed_queries,
        since=now - timedelta(days=days),
        threshold=threshold,
        confidence_floor=floor,
    )


def _chosen(
    session: Session, runtime: Runtime, now: datetime, n: int, body: out.GapWindow
) -> gaps.GapCluster:
    clusters = _clusters(session, runtime, now, body.days, body.threshold, body.floor)
    return gaps.cluster_number(clusters, n, expected=body.expected_name)


@router.get(
    "/gaps", summary="Knowledge gaps: unanswered queries clustered by intent, biggest first"
)
def list_gaps(
    session: DbSession,
    _user: Reader,
    runtime: RuntimeDep,
    now: Now,
    days: Days = 30,
    threshold: Threshold = 0.9,
    floor: Floor = gaps.DEFAULT_FLOOR,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> out.GapList:
    """Abstained and low-confidence searches plus not-helpful votes; each cluster is named by
    its most central query."""
    clusters = _clusters(session, runtime, now, days, threshold, floor)
    return out.GapList(
        days=days,
        threshold=threshold,
        floor=floor,
        total=len(clusters),
        clusters=[gap_out(i, c) for i, c in enumerate(clusters[:limit], 1)],
    )


@router.post(
    "/gaps/{n}/draft",
    status_code=201,
    summary="Draft a new table from gap cluster N; its queries become similar questions",
    responses=documented(404, 409),
)
def draft_from_gap(
    n: Id, body: out.GapDraftIn, session: DbSession, user: Drafter, runtime: RuntimeDep, now: Now
) -> out.GapActionOut:
    """The draft then goes through submit → approve like any other."""
    package = hierarchy.find_package(session, body.package)
    check(user, Action.DRAFT, package)
    cluster = _chosen(session, runtime, now, n, body)
    fields = {"answer": body.answer, **body.fields} if body.answer else dict(body.fields)
    table = gaps.draft_from_gap(
        session,
        user,
        cluster,
        package,
        code=body.code.strip(),
        fields=fields,
        title=body.title.strip() or None,
    )
    return _action_out(
        table.code,
        table.latest_revision,
        cluster.name,
        f"Drafted {table.code} from gap “{cluster.name}”; submit it for review.",
    )


@router.post(
    "/gaps/{n}/attach",
    summary="Add gap cluster N's queries to a table as similar questions (a draft to review)",
    responses=documented(404, 409),
)
def attach_gap(
    n: Id, body: out.GapAttachIn, session: DbSession, user: Drafter, runtime: RuntimeDep, now: Now
) -> out.GapActionOut:
    table = tables.get_table(session, body.to.strip())
    check(user, Action.DRAFT, table.package)
    cluster = _chosen(session, runtime, now, n, body)
    revision = gaps.attach_to_table(session, user, table.code, cluster.queries)
    return _action_out(
        table.code,
        revision,
        cluster.name,
        f"Draft revision {revision.number} of {table.code} adds the queries of "
        f"“{cluster.name}”; submit it for review.",
    )


def _action_out(code: str, revision: Revision, cluster: str, message: str) -> out.GapActionOut:
    """What a gap action made: the draft revision and the questions it now carries."""
    return out.GapActionOut(
        code=code,
        revision=revision.number,
        state=workflow.status_of(revision),
        cluster=cluster,
        questions=list(revision.questions),
        message=message,
    )


# ---------------------------------------------------------------- golden set


def _golden_out(item: GoldenQuery) -> out.GoldenOut:
    return out.GoldenOut(
        id=item.id,
        query=item.query,
        code=item.table.code,
        title=item.table.title,
        live=item.table.live_revision_id is not None,
        added_by=item.added_by,
        added_at=item.added_at,
    )


@router.get("/golden", summary="The golden set: queries confirmed against their table")
def list_golden(session: DbSession, _user: Reader) -> out.GoldenList:
    items = golden.all_golden(session)
    return out.GoldenList(count=len(items), items=[_golden_out(g) for g in items])


@router.post(
    "/golden",
    status_code=201,
    summary="Confirm that a table answers a query: add the pair to the golden set",
    responses=documented(404, 409),
)
def promote_golden(body: out.GoldenIn, session: DbSession, user: Reviewer) -> out.GoldenOut:
    """Idempotent: promoting the same pair again returns the existing entry."""
    table = tables.get_table(session, body.code.strip())
    check(user, Action.REVIEW, table.package)
    return _golden_out(golden.promote(session, body.query, table, actor=user.name))


@router.get(
    "/golden/export",
    summary="The golden set as an eval dataset (zip of entries.jsonl + queries.jsonl)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_golden(
    session: DbSession, _user: Annotated[User, Depends(require(Action.EXPORT))]
) -> Response:
    """Unzip it and run `kb eval DIR` to check a retrieval change against the KB's traffic."""
    data = uploads.zip_files({Path(n): text for n, text in golden.dataset_files(session).items()})
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="zhiku-golden.zip"'},
    )
