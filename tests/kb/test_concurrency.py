"""Concurrent reviewers, agents and voters against a real database file or server, counted afterwards.

Threads with their own sessions (one connection each) race on purpose: every approver of a
revision waits at a barrier, then all approve at once. On a SQLite *file* (in-memory SQLite
shares one connection, so it cannot race) and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kb import feedback, handoff, locks, querylog, renaming, workflow
from kb.clock import frozen
from kb.db import Database, create_schema, drop_schema, open_database
from kb.errors import Conflict, ImportRejected, NotFound
from kb.models import (
    AuditEntry,
    HandoffRequest,
    HandoffStatus,
    KnowledgeTable,
    Revision,
    RevisionState,
    TableUsage,
    User,
)
from kb.transfer import importer
from kb.users import create_user
from tests.factories import make_package, make_table

TABLES = 12
REVIEWERS = ("reviewer1", "reviewer2", "reviewer3")


@pytest.fixture(params=["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite-file":
        database = open_database(f"sqlite:///{tmp_path / 'race.db'}", create=True)
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        drop_schema(database.engine)
        create_schema(database.engine)
    yield database
    database.dispose()


def race(workers: list[Callable[[], str]]) -> list[str]:
    """Run every worker in its own thread, all released at once; their results in order."""
    barrier = threading.Barrier(len(workers))
    results = [""] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except Exception as exc:  # counted by the test, not lost in a thread
            results[i] = f"error: {type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_approvals_publish_each_revision_once(shared_db: Database) -> None:
    with shared_db.transaction() as session:
        package = make_package(session)
        author = create_user(session, "editor1", "editor")
        for name in REVIEWERS:
            create_user(session, name, "reviewer")
        for i in range(TABLES):
            code = f"RACE-{i:02d}"
            make_table(session, package, code=code, title=f"并发审核 {i}", actor="editor1")
            # A second revision in review on top of the live one: approving it swaps them.
            workflow.edit(session, author, code, workflow.Edit(title=f"并发审核 {i} 修订"))
            workflow.submit(session, author, code)

    def approve(code: str, reviewer: str) -> Callable[[], str]:
        def work() -> str:
            try:
                with shared_db.transaction() as session:
                    user = session.scalars(select(User).where(User.name == reviewer)).one()
                    workflow.approve(session, user, code)
            except Conflict:
                return "conflict"
            return "approved"

        return work

    results = race([approve(f"RACE-{i:02d}", who) for i in range(TABLES) for who in REVIEWERS])
    assert Counter(results) == {"approved": TABLES, "conflict": TABLES * 2}
    with shared_db.session() as session:
        published = session.execute(
            select(KnowledgeTable.code, func.count())
            .join(Revision, Revision.table_id == KnowledgeTable.id)
            .where(Revision.state == RevisionState.PUBLISHED)
            .group_by(KnowledgeTable.code)
        ).all()
        assert sorted(published) == [(f"RACE-{i:02d}", 1) for i in range(TABLES)]
        audited = session.execute(
            select(AuditEntry.action, func.count())
            .where(AuditEntry.action.in_(["approve", "publish"]), AuditEntry.revision == 2)
            .group_by(AuditEntry.action)
        ).all()
        assert sorted(audited) == [("approve", TABLES), ("publish", TABLES)]
        live = session.scalars(select(KnowledgeTable).order_by(KnowledgeTable.code)).all()
        assert [t.live_revision.number if t.live_revision else None for t in live] == [2] * TABLES


def test_an_import_and_a_submit_at_once_never_rewrite_a_revision_in_review(
    shared_db: Database, tmp_path: Path
) -> None:
    """Per table, an import rewrites the open draft while its author submits it: the import
    either came first (the submitted revision holds its content) or is refused, never written
    into the revision after it went to review."""
    with shared_db.transaction() as session:
        package = make_package(session)
        author = create_user(session, "editor1", "editor")
        for i in range(TABLES):
            code = f"RACE-{i:02d}"
            make_table(session, package, code=code, title=f"并发导入 {i}", actor="editor1")
            workflow.edit(session, author, code, workflow.Edit(title=f"并发导入 {i} 草稿"))
    files = []
    for i in range(TABLES):
        path = tmp_path / f"race-{i:02d}.csv"
        path.write_text(
            f"category,package,code,title\n通信业务,改号业务,RACE-{i:02d},并发导入 {i} 导入\n",
            encoding="utf-8",
        )
        files.append(path)

    def load(path: Path) -> Callable[[], str]:
        def work() -> str:
            try:
                with shared_db.transaction() as session:
                    importer.import_path(session, path, actor="admin", draft=True)
            except ImportRejected:
                return "import refused"
            return "imported"

        return work

    def submit(code: str) -> Callable[[], str]:
        def work() -> str:
            with shared_db.transaction() as session:
                user = session.scalars(select(User).where(User.name == "editor1")).one()
                workflow.submit(session, user, code)
            return "submitted"

        return work

    results = race([w for i in range(TABLES) for w in (load(files[i]), submit(f"RACE-{i:02d}"))])
    assert not [r for r in results if r.startswith("error")], results
    assert results[1::2] == ["submitted"] * TABLES
    with shared_db.session() as session:
        for i in range(TABLES):
            code = f"RACE-{i:02d}"
            trail = [
                e.action
                for e in session.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.object_key == code, AuditEntry.revision == 2)
                    .order_by(AuditEntry.id)
                )
            ]
            revision = session.scalars(
                select(Revision)
                .join(KnowledgeTable, Revision.table_id == KnowledgeTable.id)
                .where(KnowledgeTable.code == code, Revision.number == 2)
            ).one()
            assert revision.state is RevisionState.IN_REVIEW
            if results[2 * i] == "imported":
                assert trail == ["revise", "edit", "submit"], (code, trail)
                assert revision.title == f"并发导入 {i} 导入"
            else:
                assert trail == ["revise", "submit"], (code, trail)
                assert revision.title == f"并发导入 {i} 草稿"


def test_locks_change_nothing(shared_db: Database) -> None:
    """On SQLite a lock is a write; it must not stamp the rows it names as updated (the index
    would take every table an import merely looked at for changed)."""
    with frozen(datetime(2026, 1, 5, tzinfo=UTC)), shared_db.transaction() as session:
        make_table(session, make_package(session), code="LOCK-1")
        make_table(session, make_package(session), code="LOCK-2")
    with frozen(datetime(2026, 2, 5, tzinfo=UTC)), shared_db.transaction() as session:
        locks.lock_table(session, "LOCK-1")
        locks.lock_tables(session, ["LOCK-2", "LOCK-1", "NOPE"])
    with shared_db.session() as session:
        stamps = session.scalars(select(KnowledgeTable.updated_at)).all()
        assert stamps == [datetime(2026, 1, 5, tzinfo=UTC)] * 2


RENAMERS = 6


@pytest.mark.parametrize("what", ["category", "package"])
def test_renames_at_once_rename_once_and_scopes_follow_the_one(
    shared_db: Database, what: str
) -> None:
    with shared_db.transaction() as session:
        make_package(session, "银行服务", "信用卡")
        create_user(session, "admin1", "admin")
        scope = "银行服务" if what == "category" else "银行服务/信用卡"
        create_user(session, "scoped", "editor", scopes=[scope])

    def rename(i: int) -> Callable[[], str]:
        def run() -> str:
            with shared_db.transaction() as session:
                admin = session.scalars(select(User).where(User.name == "admin1")).one()
                try:
                    if what == "category":
                        renaming.rename_category(session, admin, "银行服务", f"银行业务{i}")
                    else:
                        renaming.rename_package(session, admin, "银行服务/信用卡", f"贷记卡{i}")
                except NotFound:
                    return "gone"
            return f"renamed {i}"

        return run

    results = race([rename(i) for i in range(RENAMERS)])
    assert Counter(r.split()[0] for r in results) == {"renamed": 1, "gone": RENAMERS - 1}, results
    winner = next(r.split()[1] for r in results if r.startswith("renamed"))
    with shared_db.session() as session:
        scopes = session.scalars(select(User.scopes).where(User.name == "scoped")).one()
        renames = session.scalars(select(AuditEntry).where(AuditEntry.action == "rename")).all()
    expected = f"银行业务{winner}" if what == "category" else f"银行服务/贷记卡{winner}"
    assert scopes == [expected]
    assert [e.detail["to"] for e in renames] == [expected]


REQUESTS = 8
AGENTS = ("agent1", "agent2", "agent3")


def test_agents_working_one_request_at_once_see_each_others_change(shared_db: Database) -> None:
    """Per request, one agent closes it twice over and two reply to it, all at once: it is
    closed once, and a reply either came before the close or is refused."""
    with shared_db.transaction() as session:
        for name in AGENTS:
            create_user(session, name, "agent")
        refs = []
        for i in range(REQUESTS):
            created = handoff.create_request(session, handoff.NewRequest(question=f"并发请求 {i}"))
            assert created.request.ref is not None
            refs.append(created.request.ref)

    def work(ref: str, agent: str, verb: str) -> Callable[[], str]:
        def run() -> str:
            try:
                with shared_db.transaction() as session:
                    user = session.scalars(select(User).where(User.name == agent)).one()
                    if verb == "close":
                        handoff.set_status(session, user, ref, "closed")
                    else:
                        handoff.reply(session, user, ref, f"{agent} 的答复")
            except Conflict:
                return f"{verb} refused"
            return verb

        return run

    workers = [
        work(ref, agent, verb)
        for ref in refs
        for agent, verb in zip(AGENTS, ("close", "close", "reply"), strict=True)
    ]
    results = race(workers)
    assert not [r for r in results if r.startswith("error")], results
    with shared_db.session() as session:
        for ref in refs:
            request = session.scalars(select(HandoffRequest).where(HandoffRequest.ref == ref)).one()
            trail = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "request", AuditEntry.object_key == ref)
                .order_by(AuditEntry.id)
            ).all()
            assert request.status is HandoffStatus.CLOSED, ref
            # Closed once (the second close finds it closed and changes nothing) ...
            assert [e.action for e in trail].count("status") == 1, [e.action for e in trail]
            # ... and any reply the customer got was written before that.
            actions = [e.action for e in trail]
            assert actions in (["create", "status"], ["create", "reply", "status"]), actions
            assert len(request.messages) == actions.count("reply")


VOTERS = 8
VOTES_EACH = 15


@pytest.mark.postgres
def test_concurrent_votes_and_hits_are_all_counted(postgres_url: str) -> None:
    database = Database(postgres_url)
    drop_schema(database.engine)
    create_schema(database.engine)
    try:
        with database.transaction() as session:
            package = make_package(session)
            ids = [make_table(session, package, code=f"VOTE-{i}").id for i in range(2)]

        def voter(n: int) -> Callable[[], str]:
            def work() -> str:
                for k in range(VOTES_EACH):
                    # Both tables start without a usage row: the first votes race to create it.
                    with database.transaction() as session:
                        table = session.get(KnowledgeTable, ids[k % 2])
                        feedback.record_vote(
                            session, channel="agent", table=table, helpful=(n + k) % 3 != 0
                        )
                        querylog.log_search(
                            session,
                            enabled=True,
                            channel="agent",
                            query=f"问题 {n} {k}",
                            normalized=f"问题 {n} {k}",
                            results=[querylog.LoggedResult(f"VOTE-{k % 2}", ids[k % 2], 0.9)],
                            abstained=False,
                            latency_ms=1.0,
                        )
                return "ok"

            return work

        assert race([voter(n) for n in range(VOTERS)]) == ["ok"] * VOTERS
        votes = [(n + k) % 3 != 0 for n in range(VOTERS) for k in range(VOTES_EACH)]
        with database.session() as session:
            rows = session.scalars(select(TableUsage)).all()
            assert sum(r.helpful for r in rows) == sum(votes)
            assert sum(r.not_helpful for r in rows) == len(votes) - sum(votes)
            assert sum(r.hits for r in rows) == VOTERS * VOTES_EACH
            assert sorted(r.table_id for r in rows) == sorted(ids)
    finally:
        database.dispose()
