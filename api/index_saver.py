"""Writing the served index to disk a while after it changed, not in the request that changed it.

The index directory is a cache of the database (the database is the source of truth): a
process that starts repairs whatever the directory missed (:meth:`SearchService.open`). So a
server need not write the whole directory (hundreds of MB at 10,000 tables) inside every
approval's index update, under the lock that searches wait for: it was 1.3–2.3 s per approval
at 10,000 tables. The :class:`IndexSaver` writes it ``ZHIKU_INDEX_SAVE_DELAY`` seconds after
the first change of a burst (the changes of the burst in one write), while searches go on, and
once more when the server stops. A worker of a multi-worker server whose state another worker
already wrote writes nothing (:func:`indexer.store.save_unless_saved`); then each worker maps
the written files again (:meth:`indexer.service.SearchService.remap`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("zhiku.api")


class IndexSaver:
    """Calls ``save`` ``delay_s`` after :meth:`due`, in a thread of its own."""

    def __init__(self, save: Callable[[], bool], delay_s: float) -> None:
        self._save = save
        self.delay_s = delay_s
        self.saves = 0  # directories written
        self.failures = 0
        self._due = threading.Event()
        self._stop = threading.Event()
        self._one_at_a_time = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_guard = threading.Lock()

    def due(self) -> None:
        """The index changed: write it within ``delay_s`` (with whatever else changes by then)."""
        with self._start_guard:
            if self._stop.is_set():
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zhiku-save", daemon=True)
                self._thread.start()
        self._due.set()

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread and write what is still unsaved, now."""
        with self._start_guard:
            self._stop.set()
            thread = self._thread
        self._due.set()
        if thread is not None:
            thread.join(timeout)
        self.save_now()

    def save_now(self) -> bool:
        """Write now if anything is unsaved; False (logged) when the write failed."""
        with self._one_at_a_time:
            try:
                if self._save():
                    self.saves += 1
                return True
            except Exception:
                self.failures += 1
                log.exception("saving the search index failed; the next start repairs it")
                return False

    def _run(self) -> None:
        while True:
            self._due.wait()
            if self._stop.is_set():
                return
            self._stop.wait(self.delay_s)  # let the rest of a burst of changes arrive
            if self._stop.is_set():
                return  # close() writes
            self._due.clear()
            if not self.save_now():
                self._due.set()  # try again after another delay
