"""The change feed replicas follow: one entry per commit that changes what search serves,
written in the same transaction, stamped in commit order; NOTIFY on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from kb import change_feed, dictionary, hierarchy, users, workflow
from kb.clock import utcnow
from kb.db import Database, create_schema, drop_schema
from kb.models import ChangeFeedEntry, Package, RevisionState
from tests.factories import TEMPLATE, make_package, make_table


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def _entries(db: Database, after: int = 0) -> list[tuple[int, list[int], bool]]:
    with db.session() as s:
        return [(e.seq, e.tables, e.dictionary) for e in change_feed.since(s, after)]


def test_an_approval_and_an_archive_each_write_one_entry_naming_the_table(db: Database) -> None:
    with db.transaction() as s:
        table = make_table(s, state=RevisionState.DRAFT, actor="editor1")
        users.create_user(s, "editor1", "editor")
        users.create_user(s, "reviewer1", "reviewer")
    assert _entries(db) == []  # a draft changes nothing search serves
    with db.transaction() as s:
        workflow.submit(s, users.get_user(s, "editor1"), "TX-GH-001")
    with db.transaction() as s:
        workflow.approve(s, users.get_user(s, "reviewer1"), "TX-GH-001")
    with db.transaction() as s:
        workflow.archive(s, users.get_user(s, "reviewer1"), "TX-GH-001")
    assert _entries(db) == [(1, [table.id], False), (2, [table.id], False)]
    with db.session() as s:
        assert change_feed.head(s) == 2
        assert _entries(db, after=1) == [(2, [table.id], False)]


def test_a_rolled_back_change_leaves_no_entry_and_takes_no_stamp(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as s:
        make_table(s)
        raise RuntimeError("boom")
    with db.transaction() as s:
        table = make_table(s)
    assert _entries(db) == [(1, [table.id], False)]


def test_dictionary_changes_are_flagged(db: Database) -> None:
    with db.transaction() as s:
        assert dictionary.replace_synonyms(s, [["改号", "换号"]], actor="admin1")
    with db.transaction() as s:
        assert not dictionary.replace_terms(s, [], actor="admin1")  # unchanged: no entry
    assert _entries(db) == [(1, [], True)]


def test_a_package_review_interval_change_names_every_table_of_the_package(
    db: Database,
) -> None:
    with db.transaction() as s:
        package = make_package(s)
        first = make_table(s, package, code="TX-GH-001")
        second = make_table(s, package, code="TX-GH-002")
    with db.transaction() as s:
        category = hierarchy.get_category(s, "通信业务")
        hierarchy.ensure_package(
            s, category, "改号业务", template=TEMPLATE, review_interval_days=30
        )
    assert _entries(db, after=1) == [(2, sorted([first.id, second.id]), False)]


def test_prune_drops_old_entries_only(db: Database) -> None:
    with db.transaction() as s:
        make_table(s, code="TX-GH-001")
    with db.transaction() as s:
        make_table(s, code="TX-GH-002")
        s.flush()
    with db.transaction() as s:
        s.get_one(ChangeFeedEntry, 1).at = utcnow() - timedelta(days=30)
    with db.transaction() as s:
        assert change_feed.prune(s, utcnow() - timedelta(days=change_feed.RETENTION_DAYS)) == 1
    with db.session() as s:
        assert [e.seq for e in change_feed.since(s, 0)] == [2]
        assert change_feed.head(s) == 2  # the counter is not moved back


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    drop_schema(database.engine)
    create_schema(database.engine)
    yield database
    database.dispose()


@pytest.mark.postgres
def test_stamps_follow_commit_order_not_start_order(pg: Database) -> None:
    """A reader that saw stamp 1 must never find an entry below it committed later."""
    with pg.transaction() as s:
        package_id = make_package(s).id
    first = pg.session()
    try:
        package = first.get_one(Package, package_id)
        early = make_table(first, package, code="TX-GH-001")
        first.flush()  # started, marked and written first …
        with pg.transaction() as s:
            late = make_table(s, s.get_one(Package, package_id), code="TX-GH-002")
        first.commit()  # … but committed second
    finally:
        first.close()
    assert _entries(pg) == [(1, [late.id], False), (2, [early.id], False)]


@pytest.mark.postgres
def test_concurrent_writers_get_distinct_gapless_stamps(pg: Database) -> None:
    with pg.transaction() as s:
        package_id = make_package(s).id
    barrier = threading.Barrier(6)

    def write(n: int) -> None:
        barrier.wait()
        for i in range(5):
            with pg.transaction() as s:
                make_table(s, s.get_one(Package, package_id), code=f"TX-C-{n}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pg.session() as s:
        seqs = list(s.scalars(select(ChangeFeedEntry.seq).order_by(ChangeFeedEntry.seq)))
        assert seqs == list(range(1, 31)) and change_feed.head(s) == 30


@pytest.mark.postgres
def test_listeners_hear_each_stamp_when_it_commits(pg: Database) -> None:
    heard: list[int] = []
    connected = threading.Event()
    stop = threading.Event()

    def on_state(up: bool) -> None:
        if up:
            connected.set()

    thread = threading.Thread(
        target=change_feed.listen,
        args=(pg.url, heard.append, stop),
        kwargs={"on_state": on_state},
        daemon=True,
    )
    thread.start()
    try:
        assert connected.wait(10) and _until(lambda: heard == [0])  # catch up on connecting
        with pg.transaction() as s:
            make_table(s)
            s.flush()
            time.sleep(0.2)
            assert heard == [0]  # nothing before the commit
        assert _until(lambda: heard == [0, 1])
    finally:
        stop.set()
        thread.join(5)
