"""The golden set: logged queries confirmed against the table that answers them.

Exported in the evaluation dataset format (entries.jsonl + queries.jsonl), so `kb eval` can
check a retrieval change against the KB's own traffic before it goes live.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, repository
from kb.errors import Conflict, ValidationFailed
from kb.models import GoldenQuery, KnowledgeTable
from kb.templates import ANSWER_KEY


def promote(session: Session, query: str, table: KnowledgeTable, *, actor: str) -> GoldenQuery:
    text = query.strip()
    if not text:
        raise ValidationFailed.one("query must not be empty", field="query", value=query)
    if table.live_revision is None:
        raise Conflict(f"Table {table.code} has no published revision to confirm against.")
    exists = session.scalar(
        select(GoldenQuery).where(GoldenQuery.query == text, GoldenQuery.table_id == table.id)
    )
    if exists is not None:
        return exists
    golden = GoldenQuery(query=text, table_id=table.id, added_by=actor)
    session.add(golden)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="golden",
        object_type="table",
        object_key=table.code,
        comment=text,
    )
    return golden


def all_golden(session: Session) -> list[GoldenQuery]:
    """The golden set, oldest first."""
    return list(session.scalars(select(GoldenQuery).order_by(GoldenQuery.id)))


def confirmed_pairs(session: Session) -> list[tuple[str, int]]:
    """(query, table id) of every golden query whose table is live: the labelled real
    wordings self-tuning fits confidence (and may tune the ranking) on."""
    rows = session.execute(
        select(GoldenQuery.query, GoldenQuery.table_id)
        .join(KnowledgeTable, KnowledgeTable.id == GoldenQuery.table_id)
        .where(KnowledgeTable.live_revision_id.is_not(None))
        .order_by(GoldenQuery.id)
    ).all()
    return [(str(query), int(table_id)) for query, table_id in rows]


def dataset(session: Session) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    """Rows of entries.jsonl (every live table) and queries.jsonl (golden pairs still live)."""
    live = [t for t in repository.all_tables(session) if t.live_revision is not None]
    entries: list[dict[str, str]] = []
    for table in live:
        rev = table.live_revision
        assert rev is not None
        entries.append(
            {
                "id": table.code,
                "question": rev.title,
                "answer": str(rev.fields.get(ANSWER_KEY, "")),
                "category": table.package.category.name,
            }
        )
    live_ids = {t.id for t in live}
    queries: list[dict[str, object]] = [
        {"qid": f"golden-{g.id}", "query": g.query, "relevant": [g.table.code]}
        for g in all_golden(session)
        # a table archived since has no answer to check against any more
        if g.table_id in live_ids
    ]
    return entries, queries


def _jsonl(rows: Sequence[Mapping[str, object]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def dataset_files(session: Session) -> dict[str, str]:
    """The eval dataset as file name → JSON-lines text."""
    entries, queries = dataset(session)
    return {"entries.jsonl": _jsonl(entries), "queries.jsonl": _jsonl(queries)}


def export_dataset(session: Session, directory: Path) -> tuple[int, int]:
    """Write entries.jsonl (every live table) and queries.jsonl; returns (entries, queries)."""
    directory.mkdir(parents=True, exist_ok=True)
    entries, queries = dataset(session)
    (directory / "entries.jsonl").write_text(_jsonl(entries), encoding="utf-8")
    (directory / "queries.jsonl").write_text(_jsonl(queries), encoding="utf-8")
    return len(entries), len(queries)
