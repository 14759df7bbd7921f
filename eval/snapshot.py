"""A point-in-time copy of the KB's database in a SQLite file, for evaluating it in a throwaway.

A SQLite database is copied with SQLite's online backup (a consistent snapshot even while the
service writes to it; the source is only read). Any other database (PostgreSQL) is
copied row by row, table by table, inside one read transaction. API tokens are not copied:
nothing an evaluation does needs them.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import make_url

from kb.db import create_schema, make_engine
from kb.errors import ConfigurationError
from kb.models import ApiToken, Base, ChangeCounter, SchemaVersion

BATCH = 1000


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another backend or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def copy_database(source_url: str, target: Path) -> None:
    """Copy the database at ``source_url`` into the new SQLite file ``target``."""
    source = sqlite_file(source_url)
    if source is not None:
        _backup(source, target)
    else:
        copy_rows(source_url, target)
    engine = make_engine(f"sqlite:///{target.as_posix()}")
    try:
        with engine.begin() as connection:
            connection.execute(delete(ApiToken))
    finally:
        engine.dispose()


def copy_sqlite_file(source: Path, target: Path) -> bool:
    """Copy the SQLite file ``source`` into ``target``; False when there is none."""
    if not source.is_file():
        return False
    _backup(source, target)
    return True


def _backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise ConfigurationError(f"No database at {source}; run `kb init` first.")
    try:
        with (
            # Not opened with mode=ro: a read-only connection to a WAL database leaves its
            # -wal and -shm files behind; a normal one that only reads removes them on close.
            closing(sqlite3.connect(source)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
    except sqlite3.Error as err:
        raise ConfigurationError(f"Could not copy the database {source}: {err}.") from err


def copy_rows(source_url: str, target: Path) -> None:
    """Copy every row but API tokens into a new SQLite file (any backend to SQLite)."""
    source = make_engine(source_url)
    copy = make_engine(f"sqlite:///{target.as_posix()}")
    try:
        create_schema(copy)
        with source.connect() as src, copy.connect() as dst:
            # Rows go in table by table; links between tables (a table's live revision, a
            # revision's table) point both ways, so no order satisfies every foreign key.
            dst.exec_driver_sql("PRAGMA foreign_keys=OFF")
            # The source's stamp and change counter are copied with the rest.
            dst.execute(delete(SchemaVersion))
            dst.execute(delete(ChangeCounter))
            for table in Base.metadata.tables.values():
                if table is ApiToken.__table__:
                    continue
                result = src.execution_options(yield_per=BATCH).execute(select(table))
                for rows in result.partitions():
                    dst.execute(insert(table), [dict(row._mapping) for row in rows])
            dst.commit()
    finally:
        source.dispose()
        copy.dispose()
