"""``kb eval --golden``: the KB's own golden set, searched against a copy of the KB itself.

The golden set (:mod:`kb.golden`: logged queries confirmed against the table that answers
them) is exported in the dataset format, and its queries search the *whole* KB as it is: every
table with its similar questions, tags, template fields and audience, the KB's synonyms and
terms, under the current settings (encoder, fusion, feedback ranking). Nothing is re-imported:
the database is copied (:mod:`eval.snapshot`) into a temporary directory, the index is built
there from the copy, and the user's data directory and database are only read. The embedding
cache is copied too, so an unchanged encoder re-encodes nothing.

    with golden_snapshot(settings) as golden:
        records = evaluate(golden.dataset, config, settings=settings, open_kb=golden.open_kb)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from sqlalchemy import func, select

from eval.datasets import Dataset, load_dataset
from eval.errors import EvalError
from eval.sandbox import EvalKB, index_kb
from eval.snapshot import copy_database, copy_sqlite_file
from kb import golden
from kb.db import Database, open_database
from kb.models import GoldenQuery
from kb.settings import Settings

NAME = "golden"


class GoldenSetEmpty(EvalError):
    status = 409


@dataclass
class GoldenSnapshot:
    """The golden set as a dataset, and the copied KB it is evaluated against."""

    dataset: Dataset
    settings: Settings  # the copy's: data directory and database in the temporary directory
    db: Database
    copy_s: float
    skipped: int  # golden queries whose table is no longer live (not evaluated)

    @contextmanager
    def open_kb(
        self,
        dataset: Dataset,
        settings: Settings,
        *,
        held_out: frozenset[str] = frozenset(),
        progress: Callable[[int, int], None] | None = None,
        confirmed: Sequence[tuple[str, str]] = (),
        logged: Sequence[str] = (),
    ) -> Iterator[EvalKB]:
        """A :data:`eval.runner.KBFactory` over the copy, under the copy's own settings.

        The copy's index is tuned on the ``confirmed`` golden queries (``--confirm-share``) and
        the ``logged`` questions (``--log-share``) only, never on the ones it measures."""
        del settings  # the copy's settings were made from these, with its own data directory
        if progress is not None:  # nothing to import: the copy is the KB
            progress(len(dataset.entries), len(dataset.entries))
        yield index_kb(
            self.settings,
            self.db,
            codes={code: entry_id for entry_id, code in dataset.codes.items()},
            import_s=self.copy_s,
            leave_out=frozenset(dataset.codes[e] for e in held_out),
            confirmed=[(query, dataset.codes[entry]) for query, entry in confirmed],
            logged=logged,
        )


@contextmanager
def golden_snapshot(settings: Settings) -> Iterator[GoldenSnapshot]:
    """Copy the KB into a temporary directory and read its golden set from the copy.

    Raises :class:`GoldenSetEmpty` when no golden query has a live table to check against.
    """
    from indexer.service import CACHE_FILE  # heavy: FAISS loads with it

    with tempfile.TemporaryDirectory(prefix="zhiku-golden-") as tmp:
        root = Path(tmp)
        config = settings.model_copy(
            update={"data_dir": root / "data", "database_url": "", "embedding_cache": None}
        )
        config.data_dir.mkdir()
        started = perf_counter()
        copy_database(settings.resolved_database_url, config.data_dir / "zhiku.db")
        copy_sqlite_file(settings.embedding_cache_path, config.data_dir / CACHE_FILE)
        copy_s = perf_counter() - started
        db = open_database(config.resolved_database_url)
        try:
            with db.session() as session:
                entries, queries = golden.export_dataset(session, root / NAME)
                total = session.scalar(select(func.count(GoldenQuery.id))) or 0
            if not queries:
                raise GoldenSetEmpty(_empty_message(total))
            yield GoldenSnapshot(
                dataset=load_dataset(root / NAME),
                settings=config,
                db=db,
                copy_s=copy_s,
                skipped=total - queries,
            )
        finally:
            db.dispose()


def _empty_message(total: int) -> str:
    if total:
        return (
            f"The golden set has {total} queries but none has a live table any more; "
            "promote queries against published tables with `kb golden add QUERY CODE --as USER`."
        )
    return (
        "The golden set is empty: nothing to evaluate. Promote logged queries with "
        "`kb golden add QUERY CODE --as USER` (a reviewer confirms the table that answers it)."
    )
