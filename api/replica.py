"""Following the change feed: what other replicas (and the CLI) commit reaches this index.

Each ``kb serve`` keeps its own index. The :class:`Follower` remembers the stamp of the last
change-feed entry it applied (:mod:`kb.change_feed`) and applies the entries after it: the
tables they name are re-indexed (``SearchService.sync``, as after the service's own commits;
the dictionary is compared on every sync), nothing is rebuilt. It wakes every
``ZHIKU_SYNC_INTERVAL`` seconds, and on PostgreSQL at once when a ``NOTIFY`` arrives; the
poll heals a lost notification or a dropped listener. Entries pruned before it read them
(a replica far behind) are made up by comparing the whole index with the database.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from api.runtime import Runtime
from kb import change_feed
from kb.clock import utcnow

log = logging.getLogger("zhiku.api")
BATCH = 1000  # entries read per round
# A dropped listener reconnects within this (the poll covers the time between).
RECONNECT_MAX_S = 5.0


class Follower:
    """Applies the change feed to ``runtime``'s index from stamp ``start`` on."""

    def __init__(
        self, runtime: Runtime, start: int, *, interval_s: float, listen: bool = True
    ) -> None:
        self.runtime = runtime
        self.last_stamp = start
        self.interval_s = interval_s
        self.listen = listen and runtime.db.engine.dialect.name == "postgresql"
        self.listening = False
        self.last_applied_at: datetime | None = None
        self.last_delay_s: float | None = None  # commit → applied, for the last entry applied
        self.applied = 0
        self.repairs = 0
        self.failures = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._round = threading.Lock()
        self._threads: list[threading.Thread] = []

    # --- running --------------------------------------------------------------------------

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._poll, name="zhiku-follow", daemon=True)]
        if self.listen:
            self._threads.append(
                threading.Thread(target=self._listen, name="zhiku-listen", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.catch_up()
            except Exception:  # the next round retries from the same stamp
                self.failures += 1
                log.exception(
                    "applying the change feed failed; retrying in %.1f s", self.interval_s
                )

    def _listen(self) -> None:
        def noted(_stamp: int) -> None:
            self._wake.set()

        def state(connected: bool) -> None:
            self.listening = connected

        change_feed.listen(
            self.runtime.db.url,
            noted,
            self._stop,
            on_state=state,
            retry_s=min(max(self.interval_s, 0.5), RECONNECT_MAX_S),
        )

    # --- applying -------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply every entry committed after the last stamp; returns how many were read."""
        with self._round:
            read = 0
            while True:
                done = self._round_once()
                read += done
                if done < BATCH:
                    return read

    def _round_once(self) -> int:
        runtime = self.runtime
        with runtime.db.session() as session:
            head = change_feed.head(session)
            entries = change_feed.since(session, self.last_stamp, limit=BATCH)
        repair = runtime.repair_due
        if head > self.last_stamp and (not entries or entries[0].seq != self.last_stamp + 1):
            repair = True  # what it missed was pruned: compare the whole index instead
        own = runtime.own_stamps
        tables: set[int] = set()
        todo = False
        for entry in entries:
            if entry.seq in own:
                own.discard(entry.seq)
                continue
            tables.update(entry.tables)
            todo = todo or bool(entry.tables) or entry.dictionary
        if repair:
            runtime.repair_due = False
            try:
                runtime.apply_changes(None)
            except Exception:
                runtime.repair_due = True
                raise
            self.repairs += 1
        elif todo:
            runtime.apply_changes(tables)
        if entries:
            self.applied += len(entries)
            self.last_stamp = entries[-1].seq
            self.last_applied_at = utcnow()
            self.last_delay_s = round((self.last_applied_at - entries[-1].at).total_seconds(), 3)
            own.difference_update({s for s in own if s <= self.last_stamp})
        elif repair:
            self.last_stamp = max(self.last_stamp, head)
        return len(entries)

    # --- reporting ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Where this replica stands in the feed (admins' health page; no content)."""
        with self.runtime.db.session() as session:
            head = change_feed.head(session)
            oldest = change_feed.oldest_after(session, self.last_stamp)
        lag = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        return {
            "last_stamp": self.last_stamp,
            "head_stamp": head,
            "behind": max(0, head - self.last_stamp),
            "lag_s": round(max(lag, 0.0), 3),
            "last_applied_at": self.last_applied_at.isoformat() if self.last_applied_at else None,
            "last_delay_s": self.last_delay_s,
            "applied": self.applied,
            "repairs": self.repairs,
            "failures": self.failures,
            "interval_s": self.interval_s,
            "listening": self.listening,
        }
