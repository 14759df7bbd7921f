"""The golden set: logged queries confirmed against the table that answers them.

Exported in the evaluation dataset format (entries.jsonl + queries.jsonl), so `kb eval` can
check a retrieval change against the KB's own traffic before it goes live.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, repository
from kb.errors import ConfigurationError, Conflict, ValidationFailed
from kb.feedback import votes_on_tables
from kb.models import GoldenQuery, KnowledgeTable
from kb.templates import ANSWER_KEY
from kb.visibility import Channel


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


@dataclass(frozen=True)
class Endorsed:
    """A query agents voted helpful on one table, not yet in the golden set: a pair for a
    reviewer to confirm (or not)."""

    query: str
    code: str
    title: str
    helpful: int  # agents' helpful votes on this table for this query
    not_helpful: int  # … and not-helpful ones
    last_at: datetime


def endorsed(session: Session, *, since: datetime, limit: int = 20) -> list[Endorsed]:
    """Queries agents found answered by a live table (more helpful votes than not on it since
    ``since``) that are not in the golden set yet, most endorsed first.

    Agents are signed-in staff who saw the answer beside the customer's question, so their
    helpful votes are the readiest source of real wordings with a known answer; they count only
    once a reviewer confirms them, as any golden pair. Agents vote on what they are shown, so a
    golden set of these alone lacks the queries the KB answers badly, and self-tuning does not
    fit confidence on such a set (:mod:`indexer.selftune`). Customers' votes are not offered:
    they are anonymous.
    """
    helpful: Counter[tuple[str, int]] = Counter()
    not_helpful: Counter[tuple[str, int]] = Counter()
    last: dict[tuple[str, int], datetime] = {}
    for vote in votes_on_tables(session, since=since):
        text = vote.query.strip()
        if vote.channel != Channel.AGENT.value or not text:
            continue
        key = (text, vote.table_id)
        (helpful if vote.helpful else not_helpful)[key] += 1
        last[key] = max(last.get(key, vote.at), vote.at)
    pairs = [key for key in helpful if helpful[key] > not_helpful[key]]
    if not pairs:
        return []
    ids = {table_id for _, table_id in pairs}
    live = {
        t.id: t
        for t in session.scalars(
            select(KnowledgeTable).where(
                KnowledgeTable.id.in_(ids), KnowledgeTable.live_revision_id.is_not(None)
            )
        )
    }
    confirmed = {
        (str(query), int(table_id))
        for query, table_id in session.execute(
            select(GoldenQuery.query, GoldenQuery.table_id).where(GoldenQuery.table_id.in_(ids))
        )
    }
    offered = [key for key in pairs if key[1] in live and key not in confirmed]
    offered.sort(key=lambda key: (-helpful[key], -last[key].timestamp(), key[0], key[1]))
    return [
        Endorsed(
            query=text,
            code=live[table_id].code,
            title=live[table_id].title,
            helpful=helpful[(text, table_id)],
            not_helpful=not_helpful[(text, table_id)],
            last_at=last[(text, table_id)],
        )
        for text, table_id in offered[:limit]
    ]


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
    """Write entries.jsonl (every live table) and queries.jsonl; returns (entries, queries).

    Each file is written beside its place and moved in once both are complete."""
    entries, queries = dataset(session)
    texts = {"entries.jsonl": _jsonl(entries), "queries.jsonl": _jsonl(queries)}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (directory / f".{name}.tmp").write_text(text, encoding="utf-8")
        for name in texts:
            os.replace(directory / f".{name}.tmp", directory / name)
    except OSError as err:  # a parent that is a file, a place no one may write
        raise ConfigurationError(
            f"The golden set was not written to {directory}: {err.strerror or err} "
            f"({err.filename or directory})."
        ) from err
    return len(entries), len(queries)
