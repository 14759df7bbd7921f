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

from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from kb.models import Category, HandoffRequest, KnowledgeTable, Package, Revision

Lockable = type[KnowledgeTable | HandoffRequest | Category | Package]


def _sqlite_write_lock(session: Session, model: Lockable, where: ColumnElement[bool]) -> None:
    if session.get_bind().dialect.name == "sqlite":
        # A write that changes nothing, only to take SQLite's write lock now. Columns with an
        # ``onupdate`` (updated_at) are set to themselves too: else the lock would stamp every
        # row it names as changed (and the index would re-encode tables an import left alone).
        table = model.__table__
        unchanged = {c.name: c for c in table.columns if c.primary_key or c.onupdate is not None}
        session.execute(
            update(model)
            .where(where)
            .values(unchanged)
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


def lock_category(session: Session, name: str) -> Category | None:
    """Category ``name`` locked for the rest of the transaction, read fresh (None: no such
    category, or no longer: a rename that committed first took the name away)."""
    _sqlite_write_lock(session, Category, Category.name == name)
    return session.scalar(
        select(Category)
        .where(Category.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_package(session: Session, category: str, name: str) -> Package | None:
    """Package ``category/name`` locked for the rest of the transaction, read fresh."""
    _sqlite_write_lock(session, Package, Package.name == name)
    return session.scalar(
        select(Package)
        .join(Package.category)
        .where(Category.name == category, Package.name == name)
        .with_for_update(of=Package)
        .execution_options(populate_existing=True)
    )


_LOCK_CHUNK = 500  # codes per statement: far below SQLite's bound-parameter limit


def lock_tables(session: Session, codes: Iterable[str]) -> None:
    """The tables among ``codes`` that exist, locked for the rest of the transaction and read
    fresh with their revisions: what an import plans on holds until it has written.

    Locked in the order of their codes, in every caller alike, so that two imports naming
    the same tables wait for each other instead of deadlocking.
    """
    wanted = sorted(set(codes))
    if not wanted:
        return
    _sqlite_write_lock(session, KnowledgeTable, KnowledgeTable.code.in_(wanted[:_LOCK_CHUNK]))
    for start in range(0, len(wanted), _LOCK_CHUNK):
        chunk = wanted[start : start + _LOCK_CHUNK]
        found = session.scalars(
            select(KnowledgeTable)
            .where(KnowledgeTable.code.in_(chunk))
            .order_by(KnowledgeTable.code)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if not found:
            continue
        session.scalars(
            select(Revision)
            .where(Revision.table_id.in_([t.id for t in found]))
            .execution_options(populate_existing=True)
        ).all()
        for table in found:
            session.expire(table, ["revisions", "live_revision"])


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


# Any constant both sides agree on: the key of PostgreSQL's advisory lock for the sweep.
_SWEEP_LOCK_KEY = 0x5A4B5357  # "ZKSW"


def lock_sweep(session: Session) -> None:
    """One staleness sweep at a time across replicas, for the rest of the transaction.

    On PostgreSQL a transaction-scoped advisory lock: a second replica's sweep waits, then
    reads what the first recorded (and records nothing twice). SQLite has one writer anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_SWEEP_LOCK_KEY)))
