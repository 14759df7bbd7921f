"""The change feed: what each commit changed for search, so every replica can apply it.

Several ``kb serve`` processes (replicas) on one database each hold their own search index.
Every transaction that marks changes (:mod:`kb.changes`) writes one :class:`ChangeFeedEntry`
when it commits, in that same transaction: nothing is recorded for a change that rolled back,
and no committed change goes unrecorded. Its stamp comes from the one-row
:class:`ChangeCounter`, whose row lock every writer takes last, just before its commit; so
stamps are handed out in commit order without gaps, and a replica that applied everything up
to stamp *n* needs exactly the entries after *n*. (An autoincrement id would not do: ids are
taken in start order, and a reader could see 12 committed before 11.)

On PostgreSQL the entry also sends ``NOTIFY zhiku_changes, '<stamp>'``, delivered at commit,
so listening replicas apply it within milliseconds (:func:`listen`); the poll every
``ZHIKU_SYNC_INTERVAL`` seconds is the fallback for a lost notification or a dropped
listener, and the only way on SQLite (``api.replica``).

    stamp = head(session)           # before opening the index
    entries = since(session, stamp)  # later: what committed after it, in order
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from kb import changes
from kb.models import ChangeCounter, ChangeFeedEntry, KnowledgeTable

log = logging.getLogger(__name__)

CHANNEL = "zhiku_changes"
COUNTER_ID = 1
# Entries older than this are pruned by the sweep. A replica that falls further behind (or
# starts later) repairs by comparing its whole index with the database instead.
RETENTION_DAYS = 7


def install(factory: sessionmaker[Session]) -> None:
    """Write the feed entry of every session from ``factory`` as part of its commit."""
    event.listen(factory, "before_commit", _record)
    event.listen(factory, "after_rollback", changes.forget)


def _record(session: Session) -> None:
    pending = changes.take_pending(session)
    if not pending:
        return
    # Flush first: the counter's lock is taken last, so a writer holding it never waits for
    # another row lock (which could be held by a writer waiting for the counter).
    session.flush()
    tables = set(pending.tables)
    if pending.packages:
        tables.update(
            session.scalars(
                select(KnowledgeTable.id).where(KnowledgeTable.package_id.in_(pending.packages))
            )
        )
    seq = session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.id == COUNTER_ID)
        .values(seq=ChangeCounter.seq + 1)
        .returning(ChangeCounter.seq)
    ).scalar_one()
    session.execute(
        insert(ChangeFeedEntry).values(
            seq=seq, tables=sorted(tables), dictionary=pending.dictionary
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, str(seq))))
    if not pending.packages:  # else the edge's ids do not cover the tables of the packages
        changes.set_stamp(session, seq)


def ensure_counter(session: Session) -> None:
    """Create the counter row when missing (a new or upgraded database)."""
    if session.get(ChangeCounter, COUNTER_ID) is None:
        session.add(ChangeCounter(id=COUNTER_ID, seq=0))


def head(session: Session) -> int:
    """The stamp of the last committed entry (0: none yet)."""
    return session.scalar(select(ChangeCounter.seq).where(ChangeCounter.id == COUNTER_ID)) or 0


def since(session: Session, after: int, *, limit: int = 1000) -> Sequence[ChangeFeedEntry]:
    """The entries committed after stamp ``after``, oldest first, at most ``limit``."""
    return session.scalars(
        select(ChangeFeedEntry)
        .where(ChangeFeedEntry.seq > after)
        .order_by(ChangeFeedEntry.seq)
        .limit(limit)
    ).all()


def oldest_after(session: Session, after: int) -> datetime | None:
    """When the first entry after stamp ``after`` was committed (None: there is none)."""
    return session.scalar(
        select(ChangeFeedEntry.at).where(ChangeFeedEntry.seq > after).order_by(ChangeFeedEntry.seq)
    )


def prune(session: Session, before: datetime) -> int:
    """Delete entries committed before ``before``; returns how many."""
    result = session.execute(delete(ChangeFeedEntry).where(ChangeFeedEntry.at < before))
    return int(getattr(result, "rowcount", 0) or 0)


def listen(
    url: str,
    on_notify: Callable[[int], None],
    stop: threading.Event,
    *,
    on_state: Callable[[bool], None] = lambda connected: None,
    retry_s: float = 2.0,
) -> None:
    """Call ``on_notify(stamp)`` for each entry other sessions commit, until ``stop`` is set.

    PostgreSQL only. Runs in its own thread with its own connection; when the connection
    drops it reconnects every ``retry_s`` seconds and reports ``on_state(False)`` meanwhile
    (what it missed, the follower's poll picks up).
    """
    import psycopg  # PostgreSQL's driver: imported only where it is used
    from sqlalchemy import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                on_state(True)
                on_notify(0)  # anything committed while not listening: catch up now
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        on_notify(int(note.payload) if note.payload.isdigit() else 0)
        except psycopg.Error as err:
            log.warning("change feed listener lost its connection (%s); retrying", err)
        on_state(False)
        stop.wait(retry_s)
