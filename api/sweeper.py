"""The staleness sweep as the service runs it: at start and then on a timer."""

from __future__ import annotations

import fcntl
import logging
from datetime import timedelta
from pathlib import Path
from typing import IO

from api.runtime import Runtime
from kb import change_feed, changes, staleness
from kb.clock import utcnow

log = logging.getLogger("zhiku.api")


def sweep_once(runtime: Runtime) -> dict[str, list[str]]:
    """Record what expired, publish what is due, and tell the index; never raises."""
    try:
        with runtime.db.transaction() as session:
            report = staleness.sweep(session, utcnow())
            change_feed.prune(session, utcnow() - timedelta(days=change_feed.RETENTION_DAYS))
            changed = changes.pop(session)
        stamp = changes.pop_stamp(session)  # written at the commit, as the block ended
    except Exception:
        log.exception("staleness sweep failed; the next run retries")
        return {}
    runtime.sync(changed, stamp)
    summary = report.to_dict()
    runtime.last_sweep = {"at": utcnow().isoformat(), **summary}
    if any(summary.values()):
        log.info("sweep: %s", {k: len(v) for k, v in summary.items()})
    return summary


class SweepTurn:
    """Which of several server processes sweeps: the one holding a lock file, for its life.

    Another process takes over at its next tick when the holder exits (the lock goes with it).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: a lone process, always its turn
        self._handle: IO[str] | None = None

    def mine(self) -> bool:
        if self.path is None or self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
