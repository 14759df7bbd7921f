"""Which tables a unit of work changed, so the edge can update the search index after commit.

Domain functions call :func:`mark` inside the transaction; the CLI or API reads
:func:`pop` after a successful commit and hands the ids to the indexer. If that indexing
fails, the database change still stands and the index repairs itself on its next sync.

What is marked also goes into the change feed that other replicas follow
(:mod:`kb.change_feed`): written at commit, in the same transaction. :func:`pop` does not
take it back, so an edge may pop before it commits. :func:`mark_dictionary` and
:func:`mark_packages` note changes the feed carries besides table ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

_KEY = "zhiku_changed_tables"
_FEED = "zhiku_feed_pending"
_STAMP = "zhiku_feed_stamp"


@dataclass
class Pending:
    """What the change feed is to record when the session commits."""

    tables: set[int] = field(default_factory=set)
    packages: set[int] = field(default_factory=set)
    dictionary: bool = False

    def __bool__(self) -> bool:
        return bool(self.tables or self.packages or self.dictionary)


def _pending(session: Session) -> Pending:
    pending: Pending = session.info.setdefault(_FEED, Pending())
    return pending


def mark(session: Session, *table_ids: int) -> None:
    session.info.setdefault(_KEY, set()).update(table_ids)
    _pending(session).tables.update(table_ids)


def mark_dictionary(session: Session) -> None:
    """The synonyms or domain terms changed: every replica re-analyzes its lexical index."""
    _pending(session).dictionary = True


def mark_packages(session: Session, *package_ids: int) -> None:
    """A package's settings that its tables' documents carry changed (review interval)."""
    _pending(session).packages.update(package_ids)


def pop(session: Session) -> set[int]:
    changed: set[int] = session.info.pop(_KEY, set())
    return changed


def take_pending(session: Session) -> Pending:
    """What to write into the change feed now (the feed's commit hook calls this)."""
    pending: Pending = session.info.pop(_FEED, Pending())
    return pending


def forget(session: Session) -> None:
    """Drop what a rolled-back transaction noted for the feed."""
    session.info.pop(_FEED, None)
    session.info.pop(_STAMP, None)


def set_stamp(session: Session, stamp: int) -> None:
    session.info[_STAMP] = stamp


def pop_stamp(session: Session) -> int | None:
    """The stamp of the feed entry the last commit wrote, when the edge's ids cover it all."""
    stamp: int | None = session.info.pop(_STAMP, None)
    return stamp
