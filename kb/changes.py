"""Which tables a unit of work changed, so the edge can update the search index after commit.

Domain functions call :func:`mark` inside the transaction; the CLI or API reads
:func:`pop` after a successful commit and hands the ids to the indexer. If that indexing
fails, the database change still stands and the index repairs itself on its next sync.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

_KEY = "zhiku_changed_tables"


def mark(session: Session, *table_ids: int) -> None:
    session.info.setdefault(_KEY, set()).update(table_ids)


def pop(session: Session) -> set[int]:
    changed: set[int] = session.info.pop(_KEY, set())
    return changed
