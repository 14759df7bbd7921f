"""A throwaway KB for one dataset: SQLite file and index in a temporary directory.

Built exactly as a user's KB is: the dataset's Bundle goes through the importer
(:func:`kb.transfer.importer.apply_bundle`), then :meth:`indexer.service.SearchService.open`
builds the index. The user's data directory and database are never touched: only the encoder
and time-zone settings are taken from them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import select

from eval.datasets import Dataset, to_bundle
from kb.db import Database, open_database
from kb.models import KnowledgeTable
from kb.search_contract import Searcher
from kb.settings import Settings
from kb.transfer.importer import apply_bundle

Progress = Callable[[int, int], None]


def shared_cache(settings: Settings) -> Path:
    """Where benchmark runs keep embeddings between runs: the configured cache, or one under
    ``$XDG_CACHE_HOME/zhiku`` (encoding a dataset's long answers takes minutes; do it once)."""
    if settings.embedding_cache is not None:
        return settings.embedding_cache
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "zhiku" / "embeddings.sqlite"


@dataclass
class EvalKB:
    """What a run searches, and what building it cost."""

    # A search service with the index loaded afresh from disk (or a fake with the same
    # ``search``): each mode gets its own, so that no mode's timings profit from query
    # vectors another mode left in the in-process cache.
    open_service: Callable[[], Searcher]
    codes: dict[str, str]  # table code → dataset entry id
    import_s: float = 0.0
    index_s: float = 0.0
    encoder: str = ""
    index_params: dict[str, Any] = field(default_factory=dict)
    # The throwaway KB's database, for steps that write to it (simulated votes); None when
    # the KB cannot take writes (a fake).
    db: Database | None = None
    # Queries confirmed into the KB's golden set for self-tuning (not measured).
    confirmed: int = 0
    # Queries logged (unlabelled) for self-tuning to compare its pseudo-queries with (not measured).
    logged: int = 0
    # Texts the build looked up in the embedding cache: {"path", "hits", "misses"}.
    embedding_cache: dict[str, Any] = field(default_factory=dict)
    # The same KB indexed again under settings overrides (eval.ablation); None when the KB
    # cannot be re-indexed (a fake). A rebuild's index replaces the previous rebuild's.
    rebuild: Callable[[dict[str, Any]], EvalKB] | None = None
    # The same KB indexed again, self-tuning on the agents' votes its database now holds
    # (simulated votes); None when the KB cannot be re-indexed.
    tuned_on_votes: Callable[[], EvalKB] | None = None
    # Agents' votes the build tuned on.
    votes: int = 0


# Index parameters worth recording with a run (the rest is bookkeeping: slots, stamps).
_PARAMS_KEPT = (
    "format_version",
    "encoder",
    "dim",
    "analyzer_hash",
    "content_hash",
    "counts",
    "vector_kinds",
    "fusion",
    "bm25",
    "backend",  # the search backend the run searched through (kb eval --backend)
    "tuning",  # what self-tuning chose, from how many pseudo-queries of which kind
)
# The settings a build depends on beyond the encoder (the ablation variants change them).
SETTINGS_KEPT = ("vector_kinds", "lexical_channels", "self_tune", "rerank")


@contextmanager
def temporary_kb(
    dataset: Dataset,
    settings: Settings,
    *,
    held_out: frozenset[str] = frozenset(),
    progress: Progress | None = None,
    confirmed: Sequence[tuple[str, str]] = (),
    logged: Sequence[str] = (),
) -> Iterator[EvalKB]:
    """Import ``dataset`` (less ``held_out``) into a fresh KB and build its index, tuned on
    the ``confirmed`` (query, entry id) pairs as its golden set and the ``logged`` questions
    as its query log."""
    with tempfile.TemporaryDirectory(prefix="zhiku-eval-") as tmp:
        config = settings.model_copy(
            update={
                "data_dir": Path(tmp),
                "database_url": "",
                "embedding_cache": shared_cache(settings),
                # A Milvus server named by ZHIKU_MILVUS_URI keeps its KB's collections: the
                # throwaway KB gets its own (milvus-lite puts them in the temporary directory).
                "milvus_collection": f"{settings.milvus_collection}_eval",
            }
        )
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
                confirmed=[(query, dataset.codes[entry]) for query, entry in confirmed],
                logged=logged,
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
    confirmed: Sequence[tuple[str, str]] = (),
    logged: Sequence[str] = (),
    with_votes: bool = False,
) -> EvalKB:
    """Build the index of the KB in ``db`` under ``config.data_dir``, less the ``leave_out`` codes.

    Tables left out are removed from the built index (as an archive would remove them), so
    they stay in the database but no search finds them. Self-tuning learns from the
    ``confirmed`` (query, table code) pairs and the ``logged`` questions only, never from a
    golden set or query log the database holds (a run measures queries no build has seen),
    and from the agents' votes the database holds
    only ``with_votes`` (after simulated votes, whose queries a run reports apart).
    """
    from indexer.service import SearchService  # heavy: model and FAISS load on first use

    started = perf_counter()
    with db.session() as session:
        rows = session.execute(select(KnowledgeTable.code, KnowledgeTable.id)).all()
        ids = {str(code): int(id_) for code, id_ in rows}
    pairs = [(query, ids[code]) for query, code in confirmed if code in ids]
    votes: list[tuple[str, int | None, bool]] | None = None if with_votes else []
    built = SearchService.build(config, db, confirmed=pairs, votes=votes, logged=logged)
    voted = len(built.index.votes)
    if leave_out:
        built.index.remove([t for t, doc in built.index.docs.items() if doc.code in leave_out])
        built.save()
    params = dict(built.params)
    cache = built.index.cache
    embedding_cache = {
        "path": None if cache.path is None else str(cache.path),
        "hits": cache.hits,
        "misses": cache.misses,
    }
    del built
    return EvalKB(
        open_service=lambda: _measured(SearchService.open(config, db, build=False, sync=False)),
        codes=codes,
        import_s=import_s,
        index_s=perf_counter() - started,
        encoder=str(params.get("encoder", config.encoder)),
        index_params=recorded_params(params, config),
        db=db,
        confirmed=len(pairs),
        logged=len(logged),
        embedding_cache=embedding_cache,
        votes=voted,
        rebuild=lambda overrides: index_kb(
            variant_settings(config, overrides),
            db,
            codes=codes,
            import_s=0.0,
            leave_out=leave_out,
            confirmed=confirmed,
            logged=logged,
            with_votes=with_votes,
        ),
        tuned_on_votes=lambda: index_kb(
            config,
            db,
            codes=codes,
            import_s=0.0,
            leave_out=leave_out,
            confirmed=confirmed,
            logged=logged,
            with_votes=True,
        ),
    )


def recorded_params(params: dict[str, Any], config: Settings) -> dict[str, Any]:
    """What a run record keeps of a built index's params, and of the settings it was built under."""
    calibration = dict(params.get("calibration") or {})
    calibration.pop("reliability", None)  # on the tuning queries; the run measures its own
    reranker = params.get("reranker") or {}
    return {
        **{k: params[k] for k in _PARAMS_KEPT if k in params},
        "reranker": {k: reranker[k] for k in ("status", "scale") if k in reranker},
        "calibration": calibration,
        "settings": {k: getattr(config, k) for k in SETTINGS_KEPT},
    }


def variant_settings(config: Settings, overrides: dict[str, Any]) -> Settings:
    """``config`` with ``overrides``, indexing into a directory beside the KB's own index.

    The database and the embedding cache stay the KB's: a variant re-indexes the same
    content, and its vectors come from the cache. Every variant uses the same directory (a
    variant's index is replaced by the next one's: they are measured one after another, and
    a large KB's index need not be on disk six times).
    """
    return config.model_copy(
        update={
            **overrides,
            "data_dir": config.data_dir / "variant",
            "database_url": config.resolved_database_url,
            "embedding_cache": config.embedding_cache_path,
        }
    )


def _measured(service: Any) -> Any:
    """The service with its query vectors cached in memory only: every run (and every mode)
    pays for encoding its queries, as a new question does, rather than finding them in the
    shared embedding cache an earlier run wrote."""
    from indexer.embedding_cache import EmbeddingCache

    service.index.cache = EmbeddingCache(None)
    return service
