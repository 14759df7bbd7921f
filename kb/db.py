"""Engines, sessions and the versioned schema-create step.

Why a versioned create step and not Alembic (yet): until the first release there is no data
in the field to migrate, and the schema still moves every week. ``create_schema`` builds every
table and stamps ``SCHEMA_VERSION`` (upgrading a database whose step to it only adds tables); ``open_database`` refuses a database stamped with another
version and says how to fix it. Alembic takes over at the first release, starting from this
version as its baseline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from kb import change_feed
from kb.errors import ConfigurationError
from kb.models import Base, SchemaVersion

SCHEMA_VERSION = 4  # 2: customer handoff requests; 3: revisions.contributors, .proposed;
# 4: the change feed replicas follow (change_counter, change_feed)
# Versions from which the step to SCHEMA_VERSION only adds tables and nullable columns:
# ``create_schema`` (kb init) adds them and restamps, so an existing database keeps its data.
# 1 → 2 added handoff_requests and handoff_messages; 2 → 3 the columns in ADDED_COLUMNS;
# 3 → 4 change_counter and change_feed.
ADDITIVE_FROM: frozenset[int] = frozenset({1, 2, 3})
# Nullable columns added to existing tables since version 1: (table, column).
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("revisions", "contributors"),
    ("revisions", "proposed"),
)


def make_engine(url: str) -> Engine:
    """Engine for ``url``; SQLite gets foreign keys on, WAL, and its parent directory made."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        if url in {"sqlite://", "sqlite:///:memory:"}:
            kwargs["poolclass"] = StaticPool
        else:
            path = url.split("sqlite:///", 1)[-1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under WAL, NORMAL is durable against process crashes (only an OS crash or power loss
    # can drop the last commits) and spares an fsync per search's query-log row.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every table and stamp the schema version (no-op when already current).

    A database stamped with a version in :data:`ADDITIVE_FROM` is upgraded in place: the
    missing tables and columns are created and the stamp moves to :data:`SCHEMA_VERSION`.
    """
    inspector = inspect(engine)
    if not inspector.has_table(SchemaVersion.__tablename__):
        foreign = sorted(set(inspector.get_table_names()) & set(Base.metadata.tables))
        if foreign:  # another application's tables under Zhiku's names: never built on
            raise ConfigurationError(
                f"Database {engine.url.render_as_string(hide_password=True)} has no Zhiku "
                f"schema but already holds tables named as Zhiku's ({', '.join(foreign)}); "
                "give Zhiku an empty database (ZHIKU_DATABASE_URL or another data directory)."
            )
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        stamp = session.scalar(select(SchemaVersion))
        if stamp is None:
            session.add(SchemaVersion(version=SCHEMA_VERSION))
        elif stamp.version in ADDITIVE_FROM:
            _add_columns(session, engine)
            stamp.version = SCHEMA_VERSION
        change_feed.ensure_counter(session)


def _add_columns(session: Session, engine: Engine) -> None:
    """Add the :data:`ADDED_COLUMNS` a database lacks (empty: they are nullable)."""
    inspector = inspect(engine)
    for table, name in ADDED_COLUMNS:
        if name in {c["name"] for c in inspector.get_columns(table)}:
            continue
        column = Base.metadata.tables[table].c[name]
        kind = column.type.compile(dialect=engine.dialect)
        session.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


def check_schema(engine: Engine) -> None:
    """Refuse a database whose schema version is not this code's."""
    if not inspect(engine).has_table(SchemaVersion.__tablename__):
        raise ConfigurationError(
            f"Database {engine.url.render_as_string(hide_password=True)} has no Zhiku schema; "
            "run `kb init` first."
        )
    with Session(engine) as session:
        found = session.scalar(select(SchemaVersion.version))
    if found in ADDITIVE_FROM:
        raise ConfigurationError(
            f"Database schema version is {found}, this Zhiku needs {SCHEMA_VERSION}; "
            "`kb init` upgrades it in place (it adds what is missing, nothing is lost)."
        )
    if found != SCHEMA_VERSION:
        raise ConfigurationError(
            f"Database schema version is {found}, this Zhiku needs {SCHEMA_VERSION}; "
            "export it with the old version (`kb export DIR`), then `kb init --reset` and "
            "`kb import DIR`."
        )


def drop_schema(engine: Engine) -> None:
    Base.metadata.drop_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose commits also write the change feed other replicas follow."""
    factory = sessionmaker(engine, expire_on_commit=False)
    change_feed.install(factory)
    return factory


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The edge's transaction: commit when the block succeeds, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """An engine and its session factory, opened from settings."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)

    def session(self) -> Session:
        return self.sessions()

    def transaction(self) -> AbstractContextManager[Session]:
        return unit_of_work(self.sessions)

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, create: bool = False) -> Database:
    """Open the database at ``url``; ``create`` builds the schema when missing."""
    db = Database(url)
    if create:
        create_schema(db.engine)
    check_schema(db.engine)
    return db
