"""The staleness sweep as the service runs it: at start and then on a timer."""

from __future__ import annotations

import logging
from datetime import timedelta

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
