from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from kb import change_feed, repository, tables
from kb.db import (
    ADDED_COLUMNS,
    SCHEMA_VERSION,
    Database,
    check_schema,
    create_schema,
    make_engine,
    open_database,
)
from kb.errors import ConfigurationError
from kb.models import (
    ChangeCounter,
    ChangeFeedEntry,
    HandoffMessage,
    HandoffRequest,
    KnowledgeTable,
    RevisionState,
    SchemaVersion,
)
from tests.factories import make_table


def test_open_refuses_missing_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match="run `kb init` first"):
        open_database(f"sqlite:///{tmp_path}/x.db")


def test_open_refuses_other_schema_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{tmp_path}/x.db", create=True)
    with db.transaction() as s:
        s.execute(update(SchemaVersion).values(version=999))
    with pytest.raises(ConfigurationError, match="schema version is 999"):
        check_schema(make_engine(f"sqlite:///{tmp_path}/x.db"))


def _downgrade(db: Database, version: int) -> None:
    """Shape ``db`` as that schema version left it: stamp, tables and columns."""
    with db.transaction() as s:
        s.execute(update(SchemaVersion).values(version=version))
    for model in (ChangeFeedEntry, ChangeCounter):  # 3 → 4
        model.__table__.drop(db.engine)  # type: ignore[attr-defined]
    if version == 3:
        return
    with db.engine.begin() as conn:
        for table, column in ADDED_COLUMNS:  # 2 → 3
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    if version < 2:
        for model in (HandoffMessage, HandoffRequest):
            model.__table__.drop(db.engine)  # type: ignore[attr-defined]


def test_init_upgrades_a_version_1_database_keeping_its_data(db: Database) -> None:
    with db.transaction() as s:
        make_table(s, state=RevisionState.DRAFT, actor="editor1")
    _downgrade(db, 1)
    with pytest.raises(ConfigurationError, match="schema version is 1, this Zhiku needs 4"):
        check_schema(db.engine)
    create_schema(db.engine)  # what `kb init` does
    check_schema(db.engine)
    with db.session() as s:
        assert s.scalar(select(SchemaVersion.version)) == SCHEMA_VERSION == 4
        assert repository.count(s, KnowledgeTable) == 1
        assert repository.count(s, HandoffRequest) == 0
        revision = tables.get_table(s, "TX-GH-001").latest_revision
        assert (revision.author, revision.contributors, revision.proposed) == (
            "editor1",
            None,
            None,
        )


def test_init_upgrades_a_version_2_database_adding_the_revision_columns(db: Database) -> None:
    with db.transaction() as s:
        make_table(s, state=RevisionState.DRAFT, actor="editor1")
    _downgrade(db, 2)
    with pytest.raises(ConfigurationError, match="schema version is 2, this Zhiku needs 4"):
        check_schema(db.engine)
    create_schema(db.engine)  # what `kb init` does
    check_schema(db.engine)
    with db.session() as s:
        table = tables.get_table(s, "TX-GH-001")
        revision = table.latest_revision
        assert (revision.contributors, revision.proposed) == (None, None)
        assert tables.writers_of(revision) == ["editor1"]  # its author, as before
        tables.note_contributor(revision, "admin1")
        s.commit()
        assert tables.get_table(s, "TX-GH-001").latest_revision.contributors == [
            "editor1",
            "admin1",
        ]


def test_init_upgrades_a_version_3_database_adding_the_change_feed(db: Database) -> None:
    with db.transaction() as s:
        make_table(s, state=RevisionState.DRAFT, actor="editor1")
    _downgrade(db, 3)
    with pytest.raises(ConfigurationError, match="schema version is 3, this Zhiku needs 4"):
        check_schema(db.engine)
    create_schema(db.engine)  # what `kb init` does
    check_schema(db.engine)
    with db.transaction() as s:
        assert change_feed.head(s) == 0
        table = make_table(s, code="TX-GH-002")
    with db.session() as s:
        assert repository.count(s, KnowledgeTable) == 2
        assert [(e.seq, e.tables) for e in change_feed.since(s, 0)] == [(1, [table.id])]


def test_datetimes_come_back_aware_utc(db: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    with db.transaction() as s:
        make_table(s, valid_until=datetime(2027, 1, 1, 8, 0, tzinfo=shanghai))
    with db.session() as s:
        from kb.tables import get_table

        table = get_table(s, "TX-GH-001")
        assert table.valid_until == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
        assert table.valid_until.tzinfo is not None


def test_failed_unit_of_work_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as s:
        make_table(s)
        raise RuntimeError("boom")
    with db.session() as s:
        from kb import repository
        from kb.models import KnowledgeTable

        assert repository.count(s, KnowledgeTable) == 0
