"""Which tables a query's filters admit, for every indexed table at once.

The visibility rules (:mod:`kb.visibility`) read four values of a table: live, public, and its
validity interval [valid_from, expires_at). Kept here as arrays indexed by table id, one
query's filters become one boolean mask over every table in a few vector operations, instead
of a rule evaluated candidate by candidate (hundreds per query; thousands where a family of
hidden tables fills the top lists). Scope (category, package, tags) is checked with
:func:`indexer.backends.base.in_scope` over every document, once per scope.

A mask depends on ``now`` only through which validity bounds have passed: masks are kept per
*epoch* (the number of bounds at or before ``now``) and per filter values until the next edit,
so the searches of one epoch share one mask, and what is derived from it (the dense index's
selector) is made once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from indexer.backends.base import Filters, in_scope
from indexer.documents import IndexDocument
from kb.clock import ensure_utc

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NEVER = np.iinfo(np.int64).max  # no end of validity
_ALWAYS = np.iinfo(np.int64).min  # no start
# Masks kept per edit: filter values × epochs a long-running process sees between two edits.
_KEPT_MASKS = 16


def microseconds(value: datetime) -> int:
    """``value`` as whole microseconds since 1970 (exact: no float rounding)."""
    return (ensure_utc(value) - _EPOCH) // _MICROSECOND


@dataclass(frozen=True)
class Admitted:
    """One filter's verdict on every table: ``mask[table_id]``; ``key`` names it (equal keys,
    equal masks) for what is derived from it."""

    mask: np.ndarray
    key: tuple[object, ...]

    def __contains__(self, table_id: int) -> bool:
        return 0 <= table_id < len(self.mask) and bool(self.mask[table_id])

    def of(self, table_ids: np.ndarray) -> np.ndarray:
        """The verdict on each of ``table_ids`` (ids it does not know, -1 included: False)."""
        inside = (table_ids >= 0) & (table_ids < len(self.mask))
        out = np.zeros(len(table_ids), np.bool_)
        out[inside] = self.mask[table_ids[inside]]
        return out


class Admission:
    """The visibility values of the indexed tables, as arrays (see the module docstring)."""

    def __init__(self) -> None:
        self._known = np.zeros(0, np.bool_)
        self._live = np.zeros(0, np.bool_)
        self._public = np.zeros(0, np.bool_)
        self._start = np.zeros(0, np.int64)
        self._end = np.zeros(0, np.int64)
        self._docs: dict[int, IndexDocument] = {}
        self._version = 0
        self._bounds: np.ndarray | None = None
        self._masks: dict[tuple[object, ...], Admitted] = {}

    def reset(self, docs: Iterable[IndexDocument]) -> None:
        self.__init__()  # type: ignore[misc]
        self.set(docs)

    def set(self, docs: Iterable[IndexDocument]) -> None:
        """Record (or replace) these tables' values."""
        docs = list(docs)
        if not docs:
            return
        self._grow(max(d.table_id for d in docs) + 1)
        for doc in docs:
            w, t = doc.window(), doc.table_id
            self._known[t], self._live[t], self._public[t] = True, w.live, w.public
            self._start[t] = _ALWAYS if w.valid_from is None else microseconds(w.valid_from)
            self._end[t] = _NEVER if w.expires_at is None else microseconds(w.expires_at)
            self._docs[t] = doc
        self._changed()

    def drop(self, table_ids: Iterable[int]) -> None:
        for t in table_ids:
            if 0 <= t < len(self._known):
                self._known[t] = False
            self._docs.pop(t, None)
        self._changed()

    def _grow(self, size: int) -> None:
        if size <= len(self._known):
            return
        size = max(size, 2 * len(self._known))  # amortized: tables are added one by one
        more = size - len(self._known)
        self._known = np.concatenate([self._known, np.zeros(more, np.bool_)])
        self._live = np.concatenate([self._live, np.zeros(more, np.bool_)])
        self._public = np.concatenate([self._public, np.zeros(more, np.bool_)])
        self._start = np.concatenate([self._start, np.full(more, _ALWAYS, np.int64)])
        self._end = np.concatenate([self._end, np.full(more, _NEVER, np.int64)])

    def _changed(self) -> None:
        self._version += 1
        self._bounds = None
        self._masks = {}

    def _epoch(self, now: int) -> int:
        """How many validity bounds are at or before ``now``: the mask changes only with it."""
        if self._bounds is None:
            known = self._known
            bounds = np.concatenate([self._start[known], self._end[known]])
            self._bounds = np.unique(bounds[(bounds != _ALWAYS) & (bounds != _NEVER)])
        return int(np.searchsorted(self._bounds, now, side="right"))

    def admitted(self, filters: Filters) -> Admitted:
        """The tables ``filters`` admit (``now`` None: every indexed table)."""
        if filters.now is None:
            key: tuple[object, ...] = (self._version, "all")
        else:
            now = microseconds(filters.now)
            rule = filters.public_only, filters.include_expired
            key = (self._version, rule, self._epoch(now))
        if filters.scoped:
            key += (filters.category, filters.package, filters.tags)
        found = self._masks.get(key)
        if found is None:
            mask = self._visible(filters)
            if filters.scoped:
                mask &= self._in_scope(filters)
            if len(self._masks) >= _KEPT_MASKS:
                self._masks = {}  # searches may run at once: no iteration over it
            found = self._masks[key] = Admitted(mask, key)
        return found

    def _visible(self, filters: Filters) -> np.ndarray:
        """:meth:`kb.visibility.Window.visible` of every table, vectorized."""
        if filters.now is None:
            return self._known.copy()
        mask = self._known & self._live
        now = microseconds(filters.now)
        in_validity = (self._start <= now) & (now < self._end)
        if filters.public_only:
            return mask & self._public & in_validity
        if filters.include_expired:
            return mask
        return mask & in_validity

    def _in_scope(self, filters: Filters) -> np.ndarray:
        mask = np.zeros(len(self._known), np.bool_)
        for t, doc in self._docs.items():
            mask[t] = in_scope(doc, filters.category, filters.package, filters.tags)
        return mask
