"""The golden set: logged queries confirmed against the table that answers them.

Exported in the evaluation dataset format (entries.jsonl + queries.jsonl), so `kb eval` can
check a retrieval change against the KB's own traffic before it goes live.
"""

from __future__ import annotations

import json
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


def export_dataset(session: Session, directory: Path) -> tuple[int, int]:
    """Write entries.jsonl (every live table) and queries.jsonl; returns (entries, queries)."""
    directory.mkdir(parents=True, exist_ok=True)
    live = [t for t in repository.all_tables(session) if t.live_revision is not None]
    with (directory / "entries.jsonl").open("w", encoding="utf-8") as out:
        for table in live:
            rev = table.live_revision
            assert rev is not None
            row = {
                "id": table.code,
                "question": rev.title,
                "answer": rev.fields.get(ANSWER_KEY, ""),
                "category": table.package.category.name,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    goldens = session.scalars(select(GoldenQuery).order_by(GoldenQuery.id)).all()
    live_ids = {t.id for t in live}
    written = 0
    with (directory / "queries.jsonl").open("w", encoding="utf-8") as out:
        for g in goldens:
            if g.table_id not in live_ids:
                continue  # its table was archived since; the query no longer has an answer
            row = {"qid": f"golden-{g.id}", "query": g.query, "relevant": [g.table.code]}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
    return len(live), written
