"""Who may see a table, and when it goes stale. Pure functions over loaded objects.

A table is *stale* (expired) once now ≥ valid_until, or now ≥ its verification basis + the
package's review interval, where the basis is last_verified_at (or, never verified, the time
its live revision was published). These rules are evaluated at query time, so stale content
disappears at once even if no sweep has run; the sweep only records what already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kb.channels import Channel as Channel  # re-exported: where it always was
from kb.models import Audience, KnowledgeTable


def verification_basis(table: KnowledgeTable) -> datetime | None:
    if table.last_verified_at is not None:
        return table.last_verified_at
    live = table.live_revision
    return live.published_at if live is not None else None


def expires_at(table: KnowledgeTable, review_interval_days: int | None = None) -> datetime | None:
    """When the table goes stale: the earlier of valid_until and basis + review interval."""
    interval = (
        table.package.review_interval_days if review_interval_days is None else review_interval_days
    )
    candidates: list[datetime] = []
    if table.valid_until is not None:
        candidates.append(table.valid_until)
    basis = verification_basis(table)
    if basis is not None and interval > 0:
        candidates.append(basis + timedelta(days=interval))
    return min(candidates) if candidates else None


def is_stale(table: KnowledgeTable, now: datetime, review_interval_days: int | None = None) -> bool:
    end = expires_at(table, review_interval_days)
    return end is not None and now >= end


def not_yet_valid(table: KnowledgeTable, now: datetime) -> bool:
    return table.valid_from is not None and now < table.valid_from


@dataclass(frozen=True)
class Window:
    """What the visibility rules read of a table, reduced to values: live or not, public or
    not, and the validity interval [valid_from, expires_at). The search index keeps one per
    indexed document and asks it for every candidate of every query."""

    live: bool
    public: bool
    valid_from: datetime | None
    expires_at: datetime | None

    def in_validity(self, now: datetime) -> bool:
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.expires_at is None or now < self.expires_at

    def visible(self, channel: Channel, now: datetime, *, include_expired: bool = False) -> bool:
        """See :func:`visible`."""
        if not self.live:
            return False
        if channel is Channel.CUSTOMER:
            return self.public and self.in_validity(now)
        return include_expired or self.in_validity(now)


def window(table: KnowledgeTable, review_interval_days: int | None = None) -> Window:
    return Window(
        live=table.live_revision_id is not None,
        public=table.audience is Audience.PUBLIC,
        valid_from=table.valid_from,
        expires_at=expires_at(table, review_interval_days),
    )


def visible(
    table: KnowledgeTable,
    channel: Channel,
    now: datetime,
    *,
    include_expired: bool = False,
    review_interval_days: int | None = None,
) -> bool:
    """Whether ``channel`` may see the table's live revision at ``now``.

    Customers: public tables, live, in validity. Agents: internal too; stale or not-yet-valid
    content only when ``include_expired`` is asked for. Drafts are never visible here.
    """
    return window(table, review_interval_days).visible(
        channel, now, include_expired=include_expired
    )
