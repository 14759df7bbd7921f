"""The search service the CLI and the API use: index on disk, kept in step with the database.

The database is the source of truth. :meth:`SearchService.open` loads the index directory
(building it when there is none), rebuilds the lexical part if the dictionary changed, and
repairs drift: tables whose live revision, metadata or package changed since the index last
saw them are re-indexed, tables no longer live are dropped. After a write the edge calls
:func:`sync_after_commit` with the ids ``kb.changes`` collected, which touches only those.

    service = SearchService.open(settings, db)
    result = service.search(SearchRequest("改号后旧号码还扣费吗", channel=Channel.CUSTOMER))
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from indexer import selftune, store
from indexer.analysis import Analyzer, Dictionary, analyzer_hash
from indexer.backends import factory
from indexer.backends.embedded import EmbeddedBackend
from indexer.documents import IndexDocument, document_for, package_stamp, table_stamp
from indexer.embedding_cache import EmbeddingCache
from indexer.encode_pool import EncodePool
from indexer.encoders import encoder_from_settings
from indexer.errors import IndexNotBuilt
from indexer.feedback_boost import FeedbackParams, Vote, VoteBook, query_key
from indexer.index import HybridIndex, Progress, tuning_generation
from indexer.search import run_search
from kb import feedback, labels, repository
from kb.clock import utcnow
from kb.db import Database
from kb.errors import ZhikuError
from kb.models import KnowledgeTable
from kb.search_contract import SearchRequest, SearchResult
from kb.settings import Settings
from kb.visibility import Channel

log = logging.getLogger(__name__)
CACHE_FILE = "embeddings.sqlite"
# Votes recorded by another process (a second worker, the CLI) are picked up within this many
# seconds; the process that records a vote refreshes at once (api.runtime.Runtime).
VOTES_REFRESH_S = 60.0
VOTES_PRUNE_S = 3600.0


@dataclass
class SyncReport:
    upserted: int = 0
    removed: int = 0
    dictionary_rebuilt: bool = False
    retuned: bool = False
    retune_due: bool = False  # enough drifted to re-tune; left to the caller (``tune=False``)

    @property
    def changed(self) -> bool:
        return bool(self.upserted or self.removed or self.dictionary_rebuilt)


class SearchService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        index: HybridIndex,
        params: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.db = db
        self.index = index
        self.params = params  # what was last written to (or read from) the index directory
        # The served index's own bookkeeping: ahead of ``params`` while a save is deferred.
        self.package_stamps: dict[str, str] = dict(params.get("package_stamps", {}))
        self.lexical_hash = params.get("analyzer_hash")  # the dictionary of the postings
        self.unsaved = False  # changed since the last save (saves deferred by the caller)
        self.version = 0  # counts the changes to the served index (see remap)
        self.votes = VoteBook()
        self._votes_loaded_at: float | None = None  # monotonic time of the last vote load
        self._votes_pruned_at = 0.0
        self._votes_lock = threading.Lock()

    # --- opening and building -------------------------------------------------------------

    @staticmethod
    def _cache(settings: Settings) -> EmbeddingCache:
        pool = EncodePool.from_settings(settings, encoder_from_settings(settings))
        return EmbeddingCache(settings.embedding_cache_path, pool=pool)

    @staticmethod
    def _analyzer(settings: Settings, dictionary: Dictionary) -> Analyzer:
        return Analyzer(dictionary, channels=settings.lexical_channels)

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database,
        *,
        sync: bool = True,
        tune: bool = True,
        build: bool = True,
        progress: Progress | None = None,
    ) -> SearchService:
        """Load the index directory, repair drift from the database, or build it when missing.

        Where the repaired drift calls for a re-tune, ``tune`` re-tunes before returning;
        without it :attr:`retune_due` says so and the caller re-tunes when it suits (a server:
        in the background, serving meanwhile, instead of starting a minute or more later).
        """
        encoder = encoder_from_settings(settings)
        with db.session() as session:
            dictionary = Dictionary.from_session(session)
        analyzer = cls._analyzer(settings, dictionary)
        try:
            # Read as one directory: a save elsewhere (another worker, a CLI command) swaps it
            # with two renames, between which there is none.
            with long_lived(), store.unswapped(settings.index_dir):
                index, params = store.load(
                    settings.index_dir,
                    encoder,
                    analyzer,
                    cls._cache(settings),
                    kinds=settings.vector_kinds,
                    backend=factory.create(
                        settings, analyzer, encoder.dim, store.saved_bm25(settings.index_dir)
                    ),
                )
        except IndexNotBuilt:
            if not build:
                raise
            return cls.build(settings, db, progress=progress)
        _tuned_as_set(index, settings)  # for its re-tunes
        service = cls(settings, db, index, params)
        if sync:
            service.sync(tune=tune)
        return service

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        *,
        progress: Progress | None = None,
        confirmed: Sequence[tuple[str, int]] | None = None,
        votes: Sequence[tuple[str, int | None, bool]] | None = None,
        logged: Sequence[str] | None = None,
    ) -> SearchService:
        """Index every live table from scratch and save the index directory.

        Self-tuning learns from the golden set's confirmed queries, the agents' votes and the
        query log's questions, or from ``confirmed`` (query, table id), ``votes`` (query,
        table id or None, helpful) and ``logged`` (questions) when given (``kb eval``: only
        the queries it does not measure).
        """
        encoder = encoder_from_settings(settings)
        with db.session() as session:
            analyzer = cls._analyzer(settings, Dictionary.from_session(session))
            tables = repository.all_tables(session)
            docs = [d for d in (document_for(t) for t in tables) if d is not None]
            packages = _package_stamps(session)
            read = labels.read(session, confirmed=confirmed, votes=votes, logged=logged)
        index = HybridIndex(
            encoder,
            analyzer,
            cache=cls._cache(settings),
            kinds=settings.vector_kinds,
            backend=factory.create(settings, analyzer, encoder.dim),
        )
        _tuned_as_set(index, settings)
        _labelled(index, read)
        index.build(docs, progress=progress, calibrate=settings.self_tune)
        params = store.save(index, settings.index_dir, package_stamps=packages)
        return cls(settings, db, index, params)

    def close(self) -> None:
        """Release the search backend's connections (a remote engine's)."""
        self.index.backend.close()

    def save(self, *, unless_saved: bool = False) -> bool:
        """Write the index directory; returns whether it was written. ``unless_saved``: not
        when the directory already holds this state (another worker of this host saved it)."""
        where, built_at = self.settings.index_dir, self.params.get("built_at")
        if unless_saved:
            self.params, written = store.save_unless_saved(
                self.index, where, built_at=built_at, package_stamps=self.package_stamps
            )
        else:
            self.params = store.save(
                self.index, where, built_at=built_at, package_stamps=self.package_stamps
            )
            written = True
        self.unsaved = False
        return written

    def save_pending(self) -> bool:
        """Write what changed since the last save (``save=False`` calls), unless another
        process already wrote the same state; returns whether the directory was written."""
        return self.unsaved and self.save(unless_saved=True)

    def _changed(self, save: bool) -> None:
        self._touched()
        if save or not self.index.backend.state_in_directory:
            self.save()

    def _touched(self) -> None:
        self.unsaved = True
        self.version += 1

    def remap(
        self,
        reading: Callable[[], AbstractContextManager[object]],
        writing: Callable[[], AbstractContextManager[object]],
    ) -> bool:
        """Serve the in-process engine from the index directory's mapped files again, once the
        directory holds exactly what is served. An update copies the engine's arrays into this
        process's own memory (a file mapping is read-only); with N workers, N copies (250 MB
        each at 10,000 tables). After the directory is written (by this worker or another), the
        engine is loaded from it, mapped and shared with the other workers, outside any lock,
        and swapped in unless the index changed meanwhile. Returns whether it was."""
        backend = self.index.backend
        if not (isinstance(backend, EmbeddedBackend) and backend.mmap and backend.private):
            return False
        where = self.settings.index_dir
        with reading():
            version = self.version
            state = store.state_digest(self.index, self.package_stamps)
            docs = dict(self.index.docs)
        with store.unswapped(where):
            params = store.read_params(where)
            if params.get("state") != state:
                return False  # not written yet, or another worker's state
            with long_lived():
                fresh = backend.mapped(where, params, self.index.analyzer, docs)
        if not fresh.dense.searchable:
            # No FAISS file to map (an HNSW graph with many removed rows is not saved): the first
            # search would make the 8-bit scan (seconds at scale) and this worker would build
            # its own graph in the background (minutes). The process keeps its own copy.
            return False
        with writing():
            if self.version != version:
                return False  # changed meanwhile: the next write maps again
            self.index.backend = fresh
            self.params = params
        return True

    # --- keeping in step ------------------------------------------------------------------

    def sync(
        self,
        table_ids: set[int] | None = None,
        *,
        repair: bool = False,
        tune: bool = True,
        save: bool = True,
    ) -> SyncReport:
        """Re-index what changed: the given tables, or (None) whatever drifted from the DB.

        With ``repair``, the given tables and whatever drifted (what an earlier process
        committed but did not get to index, e.g. killed between its commit and its index
        update). Where the KB drifted enough to re-tune (:func:`indexer.selftune.note_changes`),
        ``tune`` re-tunes here; without it the report says ``retune_due`` and the caller runs
        :meth:`retune` when it suits (a server: in the background, while searches go on).
        Without ``save`` the index directory is not written here: :meth:`save_pending` does it
        when the caller chooses (a server: a while later, off the request path).
        """
        report = SyncReport()
        with self.db.session() as session:
            dictionary = Dictionary.from_session(session)
            # The loaded BM25 postings were made with the dictionary recorded in params.
            if analyzer_hash(dictionary, self.settings.lexical_channels) != self.lexical_hash:
                analyzer = self._analyzer(self.settings, dictionary)
                self.index.rebuild_lexical(analyzer)
                self.lexical_hash = analyzer.hash
                report.dictionary_rebuilt = True
            packages = _package_stamps(session)
            if table_ids is None or repair:
                changed, gone = self._drift(session, packages)
                changed |= set(table_ids or ())
            else:
                # The package stamps adopted below must not pass over a package change (a
                # review interval, a template) whose tables were not given: theirs too.
                changed, gone = set(table_ids) | self._in_changed_packages(packages), set()
            tables = repository.tables_with_ids(session, sorted(changed))
            docs = [d for d in (document_for(t) for t in tables) if d is not None]
        gone |= changed - {d.table_id for d in docs}
        gone &= set(self.index.docs)
        self.index.remove(gone)
        self.index.upsert(docs)
        report.upserted, report.removed = len(docs), len(gone)
        if self.settings.self_tune and selftune.note_changes(self.index, len(docs) + len(gone)):
            if tune:
                self._label(self.index)
                self.index.tune()
                report.retuned = True
            else:
                report.retune_due = True
        if report.changed or packages != self.package_stamps:
            self.package_stamps = packages
            self._changed(save)
        return report

    def prepare(self, table_ids: Iterable[int]) -> int:
        """Encode what a :meth:`sync` of ``table_ids`` will need into the embedding cache,
        before the caller takes the index for it: a new answer's passages take a second or
        more to encode, and inside the update every search waited for them. Nothing served
        changes; the sync encodes whatever changed after this. Returns the texts encoded."""
        ids = sorted(set(table_ids))
        if not ids:
            return 0
        with self.db.session() as session:
            tables = repository.tables_with_ids(session, ids)
            docs = [d for d in (document_for(t) for t in tables) if d is not None]
        misses = self.index.cache.misses
        self.index.embed(docs)
        return self.index.cache.misses - misses

    def _label(self, index: HybridIndex) -> None:
        """Give ``index`` the golden set's confirmed pairs and the agents' votes to tune on,
        with the mark of where they stood."""
        with self.db.session() as session:
            _labelled(index, labels.read(session))

    def labels_due(self) -> bool:
        """Whether enough agents' votes and confirmed queries, or a query log now worth
        comparing, came since the last tuning to re-tune on them (counts in the database)."""
        return bool(self.labels_since_tuning()["retune_due"])

    def labels_since_tuning(self) -> dict[str, Any]:
        """How many labels and logged searches came since the last tuning, and whether they
        call for a re-tune (nothing without self-tuning)."""
        if not self.settings.self_tune or not self.index.tuning:
            return {"new": 0, "logged": 0, "retune_due": False}
        mark = labels.LabelMark.from_json(self.index.tuning.get("labels"))
        with self.db.session() as session:
            new = labels.new_since(session, mark)
            logged = labels.logged_since(session, mark, at_most=selftune.MIN_LOGGED)
        due = selftune.labels_due(self.index, new) or selftune.log_due(self.index, logged)
        return {"new": new, "logged": logged, "retune_due": due}

    @property
    def retune_due(self) -> bool:
        """Whether enough tables changed since the last tuning to re-tune."""
        return self.settings.self_tune and selftune.due(self.index)

    def retune(
        self,
        reading: Callable[[], AbstractContextManager[object]],
        writing: Callable[[], AbstractContextManager[object]],
        *,
        saving: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> bool:
        """Re-tune while searches go on: the pseudo-queries are searched under ``reading`` (a
        lock searches share) a few at a time, the weights, reranker and confidence fitted
        outside any lock (most of the time), the result swapped in under ``writing`` and the
        index directory written under ``saving`` (default ``reading``). Returns whether the
        tables changed meanwhile call for another re-tune.

        The processes serving one index directory (the workers of one ``kb serve``) take turns
        (:func:`indexer.store.tuning_turn`): a worker whose turn comes after another's re-tune
        takes the saved result (a later generation than its own) instead of re-tuning.
        """
        with store.tuning_turn(self.settings.index_dir):
            saved = store.saved_tuning(self.settings.index_dir)
            later = saved is not None and tuning_generation(saved.tuning) > tuning_generation(
                self.index.tuning
            )
            if saved is not None and later:
                with writing():
                    self.index.adopt_saved(
                        saved.fusion, saved.calibration, saved.reranker, saved.tuning
                    )
                    self._touched()  # the documents may still differ from the directory's
                    return selftune.due(self.index)
            floor = tuning_generation(saved.tuning) if saved is not None else 0
            self._retune(reading, writing, floor)
            with (saving or reading)():  # the next worker in turn reads it from there
                self.save(unless_saved=True)
                return selftune.due(self.index)

    def _retune(
        self,
        reading: Callable[[], AbstractContextManager[object]],
        writing: Callable[[], AbstractContextManager[object]],
        floor: int,
    ) -> None:
        with reading():
            shadow = self.index.tuning_copy()
        self._label(shadow)
        shadow.own_engine()  # another backend's: built outside any lock
        selftune.fit(shadow, selftune.gather(shadow, reading=reading))
        with writing():
            self.index.adopt_tuning(shadow)
            # Later than any tuning a worker of this directory saved before.
            generation = max(tuning_generation(self.index.tuning), floor + 1)
            self.index.tuning["generation"] = generation
            self._touched()

    def _drift(self, session: Any, packages: dict[str, str]) -> tuple[set[int], set[int]]:
        rows = session.execute(
            select(
                KnowledgeTable.id,
                KnowledgeTable.live_revision_id,
                KnowledgeTable.updated_at,
                KnowledgeTable.package_id,
            ).where(KnowledgeTable.live_revision_id.is_not(None))
        ).all()
        live = {r[0]: table_stamp(r[1], r[2], r[3]) for r in rows}
        indexed = self.index.docs
        changed = {t for t, stamp in live.items() if t not in indexed or indexed[t].stamp != stamp}
        changed |= self._in_changed_packages(packages) & set(live)
        return changed, set(indexed) - set(live)

    def _in_changed_packages(self, packages: dict[str, str]) -> set[int]:
        """Indexed tables whose package's stamp differs from the one the index holds."""
        moved = {p for p, s in packages.items() if self.package_stamps.get(p) != s}
        return {t for t, d in self.index.docs.items() if str(d.package_id) in moved}

    def reload_dictionary(self, *, save: bool = True) -> None:
        """Pick up changed synonyms or domain terms (re-analyzes text; no re-encoding)."""
        with self.db.session() as session:
            analyzer = self._analyzer(self.settings, Dictionary.from_session(session))
        self.index.rebuild_lexical(analyzer)
        self.lexical_hash = analyzer.hash
        self._changed(save)

    # --- votes ----------------------------------------------------------------------------

    @property
    def feedback_params(self) -> FeedbackParams | None:
        """How votes adjust ranking, or None when ``feedback_ranking`` is off."""
        if not self.settings.feedback_ranking:
            return None
        return FeedbackParams(
            step=self.settings.feedback_step,
            cap=self.settings.feedback_cap,
            half_life_days=self.settings.feedback_half_life_days,
        )

    def refresh_feedback(self) -> int:
        """Load the votes recorded since the last load; returns how many were added."""
        params = self.feedback_params
        if params is None:
            return 0
        with self._votes_lock:
            keep_after = utcnow() - params.horizon
            with self.db.session() as session:
                cast = feedback.votes_on_tables(
                    session, since=keep_after, after_id=self.votes.last_id
                )
            added = self.votes.add(
                (v.id, Vote(query_key(v.query), v.table_id, v.helpful, v.at, v.channel))
                for v in cast
            )
            loaded = time.monotonic()
            if loaded - self._votes_pruned_at > VOTES_PRUNE_S:
                self.votes.prune(keep_after)
                self._votes_pruned_at = loaded
            self._votes_loaded_at = loaded
        return added

    def _feedback(
        self, query: str, channel: Channel, mode: str, now: datetime | None
    ) -> dict[int, float] | None:
        params = self.feedback_params
        if params is None or mode != "hybrid":
            return None
        loaded = self._votes_loaded_at
        if loaded is None or time.monotonic() - loaded > VOTES_REFRESH_S:
            self.refresh_feedback()
        return self.votes.adjustments(
            query, channel=channel.value, now=now or utcnow(), params=params
        )

    # --- searching ------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        """Suggestions for ``request`` as its channel may see them (see :mod:`indexer.search`).

        With ``feedback_ranking`` on, hybrid results take the votes given on this query into
        account (:mod:`indexer.feedback_boost`).
        """
        return run_search(
            self.index,
            request,
            feedback=self._feedback(request.query, request.channel, request.mode, request.at),
        )

    def document(self, table_id: int) -> IndexDocument | None:
        return self.index.docs.get(table_id)

    def status_params(self) -> dict[str, Any]:
        """The saved parameters without the bookkeeping (slot maps, package stamps)."""
        return {k: v for k, v in self.params.items() if k not in {"slots", "package_stamps"}}

    def status(self) -> dict[str, Any]:
        """The index served (its saved parameters, with what changed since the last save),
        whether the directory is behind it, and how far the database has moved since."""
        with self.db.session() as session:
            changed, gone = self._drift(session, _package_stamps(session))
            dictionary = Dictionary.from_session(session)
        index = self.index
        counts = {**self.params.get("counts", {}), "tables": len(index.docs)}
        return {
            "index_dir": str(self.settings.index_dir),
            **self.status_params(),
            "analyzer_hash": self.lexical_hash,
            "content_hash": store.content_hash(index.docs),
            "counts": counts,
            "fusion": index.fusion.to_json(),
            "calibration": index.calibration.to_json(),
            "reranker": index.reranker.to_json(),
            "tuning": index.tuning,
            "query_encoding": index.query_encoding,
            "unsaved_changes": self.unsaved,  # the directory is written a while later
            "labels_since_tuning": self.labels_since_tuning(),
            "drift": {
                "tables_to_update": len(changed),
                "tables_to_remove": len(gone),
                "dictionary_changed": analyzer_hash(dictionary, self.settings.lexical_channels)
                != self.lexical_hash,
            },
        }


def _package_stamps(session: Any) -> dict[str, str]:
    return {
        str(p.id): package_stamp(p) for c in repository.all_categories(session) for p in c.packages
    }


def sync_after_commit(settings: Settings, db: Database, changed_ids: Iterable[int]) -> bool:
    """Update the index for tables a committed unit of work changed, and repair drift; never raises.

    Without an index on disk nothing is done (the first search builds it). Besides the given
    tables, whatever drifted from the database is re-indexed (a cheap comparison of stamps),
    so a command that crashed after its commit is caught up by the next one. A failure is
    logged: the database change stands and the next :meth:`SearchService.open` or command
    repairs the drift. Returns whether the index was updated.
    """
    ids = set(changed_ids)
    if not (settings.index_dir / store.PARAMS).exists():
        return False
    started = time.perf_counter()
    try:
        service = SearchService.open(settings, db, sync=False, build=False)
        try:
            service.sync(ids, repair=True)
        finally:
            service.close()
    except (ZhikuError, OSError) as err:
        log.warning("search index not updated (%s); the next search repairs it", err)
        return False
    log.info(
        "index updated for %d table(s) in %.0f ms", len(ids), (time.perf_counter() - started) * 1000
    )
    return True


@contextmanager
def long_lived() -> Iterator[None]:
    """Objects made inside live as long as the index: Python's cyclic collector does not run
    while they are made, and then leaves them out of its passes (``gc.freeze``; reference
    counting still frees them). At 100,000 tables a loaded index is 1.5 million objects: the
    first full collection after the load paused one query for 1.4 s, and loading took 10-15%
    longer with the collector running."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.freeze()


def _tuned_as_set(index: HybridIndex, settings: Settings) -> None:
    """What the settings say of self-tuning (``ZHIKU_RERANK``, ``ZHIKU_TUNE_SEED``): at a build,
    and on an index opened from its directory, for the re-tunes it will make; and when its
    searches read latent terms (``ZHIKU_LATENT_READ``)."""
    index.allow_rerank = settings.rerank
    index.tune_seed = settings.tune_seed
    index.latent_read = settings.latent_read


def _labelled(index: HybridIndex, read: labels.Labels) -> None:
    """Give ``index`` the labels to tune on, with the mark of where they stood."""
    index.confirmed, index.votes, index.logged = read.confirmed, read.votes, read.logged
    index.label_mark = read.mark.to_json()
