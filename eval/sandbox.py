"""A throwaway KB for one dataset: SQLite file and index in a temporary directory.

Built exactly as a user's KB is: the dataset's Bundle goes through the importer
(:func:`kb.transfer.importer.apply_bundle`), then :meth:`indexer.service.SearchService.open`
builds the index. The user's data directory and database are never touched: only the encoder
and time-zone settings are taken from them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from eval.datasets import Dataset, to_bundle
from kb.db import Database, open_database
from kb.settings import Settings
from kb.transfer.importer import apply_bundle

Progress = Callable[[int, int], None]


@dataclass
class EvalKB:
    """What a run searches, and what building it cost."""

    # A search service with the index loaded afresh from disk (or a fake with the same
    # ``search``): each mode gets its own, so that no mode's timings profit from query
    # vectors another mode left in the in-process cache.
    open_service: Callable[[], Any]
    codes: dict[str, str]  # table code → dataset entry id
    import_s: float = 0.0
    index_s: float = 0.0
    encoder: str = ""
    index_params: dict[str, Any] = field(default_factory=dict)
    # The throwaway KB's database, for steps that write to it (simulated votes); None when
    # the KB cannot take writes (a fake).
    db: Database | None = None


# Index parameters worth recording with a run (the rest is bookkeeping: slots, stamps).
_PARAMS_KEPT = ("format_version", "encoder", "dim", "analyzer_hash", "content_hash", "counts")


@contextmanager
def temporary_kb(
    dataset: Dataset,
    settings: Settings,
    *,
    held_out: frozenset[str] = frozenset(),
    progress: Progress | None = None,
) -> Iterator[EvalKB]:
    """Import ``dataset`` (less ``held_out``) into a fresh KB and build its index."""
    with tempfile.TemporaryDirectory(prefix="zhiku-eval-") as tmp:
        config = settings.model_copy(update={"data_dir": Path(tmp), "database_url": ""})
        db = open_database(config.resolved_database_url, create=True)
        try:
            started = perf_counter()
            with db.transaction() as session:
                apply_bundle(
                    session,
                    to_bundle(dataset, exclude=held_out),
                    actor="kb-eval",
                    zone=config.zone,
                    progress=progress,
                )
            yield index_kb(
                config,
                db,
                codes={code: entry_id for entry_id, code in dataset.codes.items()},
                import_s=perf_counter() - started,
            )
        finally:
            db.dispose()


def index_kb(
    config: Settings,
    db: Database,
    *,
    codes: dict[str, str],
    import_s: float,
    leave_out: frozenset[str] = frozenset(),
) -> EvalKB:
    """Build the index of the KB in ``db`` under ``config.data_dir``, less the ``leave_out`` codes.

    Tables left out are removed from the built index (as an archive would remove them), so
    they stay in the database but no search finds them.
    """
    from indexer.service import SearchService  # heavy: model and FAISS load on first use

    started = perf_counter()
    built = SearchService.build(config, db)
    if leave_out:
        built.index.remove([t for t, doc in built.index.docs.items() if doc.code in leave_out])
        built.save()
    params = dict(built.params)
    del built
    return EvalKB(
        open_service=lambda: SearchService.open(config, db, build=False, sync=False),
        codes=codes,
        import_s=import_s,
        index_s=perf_counter() - started,
        encoder=str(params.get("encoder", config.encoder)),
        index_params={
            **{k: params[k] for k in _PARAMS_KEPT if k in params},
            "fusion": params.get("fusion"),
            "bm25": params.get("bm25"),
            "thresholds": (params.get("calibration") or {}).get("thresholds"),
        },
        db=db,
    )
