"""Row locks for state transitions, on PostgreSQL and SQLite alike.

Two reviewers approving the same revision at once must not both publish it, nor two agents
closing the same customer request both close it (or one reply after the other closed it). On
PostgreSQL ``SELECT … FOR UPDATE`` makes the second transaction wait for the first and then
read its result. SQLite ignores ``FOR UPDATE``; there the lock is the database's write lock,
taken by a write at the start of the transition: the driver opens a transaction right before
its first write, the write waits (busy_timeout) while another writer holds the lock, and every
read after it sees the other transaction's committed result, since nobody else can commit
until this transaction ends.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from kb.models import HandoffRequest, KnowledgeTable, Revision


def _sqlite_write_lock(
    session: Session, model: type[KnowledgeTable | HandoffRequest], where: ColumnElement[bool]
) -> None:
    if session.get_bind().dialect.name == "sqlite":
        # A write that changes nothing, only to take SQLite's write lock now.
        session.execute(
            update(model)
            .where(where)
            .values(id=model.id)
            .execution_options(synchronize_session=False)
        )


def lock_table(session: Session, code: str) -> KnowledgeTable | None:
    """Table ``code`` locked for the rest of the transaction, its row read fresh (None: no such table)."""
    _sqlite_write_lock(session, KnowledgeTable, KnowledgeTable.code == code)
    table = session.scalar(
        select(KnowledgeTable)
        .where(KnowledgeTable.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if table is not None:
        # Revisions this session loaded before the lock may be stale: read them again.
        session.scalars(
            select(Revision)
            .where(Revision.table_id == table.id)
            .execution_options(populate_existing=True)
        ).all()
        session.expire(table, ["revisions", "live_revision"])
    return table


def lock_request(session: Session, ref: str) -> HandoffRequest | None:
    """Customer request ``ref`` locked for the rest of the transaction, read fresh with its
    messages (None: no such request)."""
    _sqlite_write_lock(session, HandoffRequest, HandoffRequest.ref == ref)
    request = session.scalar(
        select(HandoffRequest)
        .where(HandoffRequest.ref == ref)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if request is not None:
        session.expire(request, ["messages"])
    return request
