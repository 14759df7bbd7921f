"""What the running service holds between requests: settings, the database, the search index."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from threading import Condition, Lock, Thread
from typing import Any, Protocol

import numpy as np

from api.index_saver import IndexSaver
from api.ratelimit import RateLimiter
from kb.db import Database
from kb.search_contract import Searcher, SearchRequest, SearchResult
from kb.settings import Settings

log = logging.getLogger("zhiku.api")


class ReadWriteLock:
    """Many readers at once, or one writer: searches share the index, updates take it alone.

    A waiting writer goes first: readers that come after it wait until it is done. (Readers
    first let a steady flow of searches keep an approval's index update waiting for as long
    as the flow lasted: 949 s in a measured run.) No thread may take the read side twice.

    A long background read (writing the index directory: seconds at 10,000 tables) is
    :meth:`background_reading`: while one holds the lock, a waiting writer does not stop
    searches, since the writer waits for that reader anyway; searches would queue behind the
    writer for the whole save. Once the background reader is gone the writer goes first again.
    """

    def __init__(self) -> None:
        self._cond = Condition()
        self._readers = 0
        self._background = 0  # of the readers, those in background_reading
        self._writing = False
        self._writers_waiting = 0

    def reading(self) -> AbstractContextManager[None]:
        return self._read(background=False)

    def background_reading(self) -> AbstractContextManager[None]:
        return self._read(background=True)

    @contextmanager
    def _read(self, *, background: bool) -> Iterator[None]:
        with self._cond:
            # A waiting writer stops new readers, unless it waits for a background reader.
            while self._writing or (self._writers_waiting and (background or not self._background)):
                self._cond.wait()
            self._readers += 1
            self._background += background
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._background -= background
                if not self._readers or background:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class LiveSearch(Searcher, Protocol):
    """What the service holds for search: answers requests, follows committed changes.

    :class:`indexer.service.SearchService` is one; tests may pass another.
    """

    def sync(
        self, table_ids: set[int] | None = None, *, tune: bool = True, save: bool = True
    ) -> object: ...

    def reload_dictionary(self, *, save: bool = True) -> None: ...

    def save_pending(self) -> bool: ...

    def prepare(self, table_ids: Iterable[int]) -> int: ...

    def remap(
        self,
        reading: Callable[[], AbstractContextManager[object]],
        writing: Callable[[], AbstractContextManager[object]],
    ) -> bool: ...


@dataclass
class Runtime:
    settings: Settings
    db: Database
    service: LiveSearch
    limiter: RateLimiter
    started_at: float = 0.0
    last_sweep: dict[str, Any] = field(default_factory=dict)
    replica: Any = None  # api.replica.Follower while the service follows the change feed
    _lock: ReadWriteLock = field(default_factory=ReadWriteLock)
    # Change-feed stamps of this process's own commits, already applied to its index (the
    # follower skips them), and whether an own update failed (the follower then repairs).
    own_stamps: set[int] = field(default_factory=set)
    repair_due: bool = False
    _retuning: bool = False  # a background re-tune is under way
    _retune_guard: Lock = field(default_factory=Lock)
    _saver: IndexSaver | None = None  # writes the index directory off the request path

    def __post_init__(self) -> None:
        if self.settings.index_save_delay > 0:
            self._saver = IndexSaver(self._write_index, self.settings.index_save_delay)

    def start(self) -> None:
        """Re-tune in the background if what the start repaired calls for it (the server
        answers meanwhile, with the parameters the index had)."""
        if getattr(self.service, "retune_due", False):
            self._retune_in_background()
        else:
            self.retune_on_labels()

    @property
    def retuning(self) -> bool:
        """Whether a background re-tune is under way (it shares the cores with searches)."""
        return self._retuning

    def retune_on_labels(self) -> bool:
        """Re-tune in the background when enough agents' votes and confirmed queries came since
        the last tuning (each worker looks on its sweep timer: the first re-tunes, the others
        take its saved result). Whether a re-tune was started; never raises."""
        labels_due = getattr(self.service, "labels_due", None)
        if labels_due is None:
            return False
        try:
            if not labels_due():
                return False
        except Exception:
            log.exception("counting the labels since the last tuning failed; looked at again later")
            return False
        self._retune_in_background()
        return True

    def _write_index(self) -> bool:
        """Write the index directory while searches go on, then serve the engine from its
        mapped files again (shared with the other workers); whether it was written."""
        with self._lock.background_reading():
            written = self.service.save_pending()
        self.service.remap(self._lock.reading, self._lock.writing)
        return written

    def close(self) -> None:
        """Write what the index directory is missing (the server is stopping)."""
        if self._saver is not None:
            self._saver.close()

    def search(self, request: SearchRequest) -> SearchResult:
        """The service's answer to ``request``, while no index update is under way."""
        with self._lock.reading():
            return self.service.search(request)

    def sync(self, table_ids: Iterable[int], stamp: int | None = None) -> None:
        """Bring the index up to date for ``table_ids`` after their change was committed.

        ``stamp`` is the change-feed entry the commit wrote (:func:`kb.changes.pop_stamp`):
        the follower need not apply it again. A failure is logged, not raised: the database
        change stands and the follower repairs the index (the database is the source of truth).
        """
        ids = sorted(set(table_ids))
        if not ids:
            return
        if stamp is not None:
            self.own_stamps.add(stamp)
        try:
            self._sync(set(ids))
        except Exception:
            self.repair_due = True
            log.exception("index sync failed for %d table(s); the follower repairs it", len(ids))

    def apply_changes(self, table_ids: set[int] | None) -> None:
        """Apply what other processes committed: ``table_ids`` (and the dictionary, which
        every sync compares), or with None whatever drifted from the database. Raises."""
        self._sync(table_ids)

    def _sync(self, table_ids: set[int] | None) -> None:
        if table_ids:
            try:  # outside the lock: the update then finds the vectors in the cache
                self.service.prepare(table_ids)
            except Exception:
                log.warning("encoding ahead of an index update failed; the update encodes")
        with self._lock.writing():
            report = self.service.sync(table_ids, tune=False, save=self._saver is None)
        self._saved_later()
        if getattr(report, "retune_due", False):
            self._retune_in_background()

    def _saved_later(self) -> None:
        if self._saver is not None:
            self._saver.due()

    def _retune_in_background(self) -> None:
        """Re-tune in a thread of its own (one at a time): a re-tune takes from seconds to
        minutes, and searches must not wait for it (they share the index with it)."""
        if getattr(self.service, "retune", None) is None:
            return
        with self._retune_guard:
            if self._retuning:
                return  # the running one looks again when it is done
            self._retuning = True
        Thread(target=self._retune, name="zhiku-retune", daemon=True).start()

    def _retune(self) -> None:
        retune = self.service.retune  # type: ignore[attr-defined]  # checked by the caller
        try:
            while True:
                again = retune(
                    self._lock.reading, self._lock.writing, saving=self._lock.background_reading
                )
                self._saved_later()
                if not again:
                    break
        except Exception:
            log.exception("re-tuning failed; the index keeps the parameters it had")
        finally:
            with self._retune_guard:
                self._retuning = False

    def reload_dictionary(self) -> None:
        """Rebuild the analyzer from the stored synonyms and terms (after they were committed)."""
        with self._lock.writing():
            self.service.reload_dictionary(save=self._saver is None)
        self._saved_later()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors from the configured encoder (the index's own), for gap clustering."""
        from indexer.encoders import encoder_from_settings  # loaded once per process

        return encoder_from_settings(self.settings).encode(texts, "query")

    def refresh_feedback(self) -> None:
        """Let searches see the votes just committed (when feedback ranking is on)."""
        refresh = getattr(self.service, "refresh_feedback", None)
        if refresh is not None and self.settings.feedback_ranking:
            refresh()

    def guarded(self, action: Callable[[], None]) -> None:
        """Run a post-commit step; its failure is logged, the committed change stands."""
        try:
            action()
        except Exception:
            log.exception("post-commit step %s failed", getattr(action, "__name__", action))


SearchFactory = Callable[[Settings, Database], LiveSearch]


def open_search(settings: Settings, db: Database) -> LiveSearch:
    """The production search service (imported here so that importing ``api`` stays cheap)."""
    from indexer.service import SearchService

    return SearchService.open(settings, db, tune=False)  # re-tuned serving (Runtime.start)
