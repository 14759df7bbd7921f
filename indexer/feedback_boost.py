"""Helpful / not-helpful votes as a small ranking adjustment for the query they were given on.

Rules, each one a guard against votes doing harm:

- **Query-matched.** A vote counts only for searches whose :func:`query_key` equals the key of
  the query it was given on: the analyzer's normal form (NFKC, Simplified, case-folded) less
  spaces and punctuation, so "改号后还扣费吗？" and "改號後 還扣費嗎" share their votes, while
  another wording of the same need does not.
- **Decaying.** A vote weighs ``0.5 ** (age / half-life)``: answers change, old votes fade.
  Votes cast after the moment searched for (``kb search --at`` in the past) do not count.
- **Bounded.** A table's adjustment is ``step × (Σ helpful weights − Σ not-helpful
  weights)`` clamped to ``[−cap, +cap]``, added to the hybrid blend score: no number of votes
  moves a table by more than ``cap``.
- **Trusted by channel.** Agents are signed-in staff; customers are anonymous. Agent votes
  count on both channels, customer votes on the customer channel only.
- **Never past visibility.** :meth:`indexer.index.HybridIndex.retrieve` applies the adjustment
  only to tables the channel's visibility rules (and the search's scope) have already let
  through: a vote reorders what the channel may see, never adds anything it may not.

The confidence (and so abstention) is computed from the scores without votes: feedback may
change which table comes first, not how sure the service claims to be.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from kb.text import normalize

# Whose votes count on each channel (see the module docstring).
VOTES_FROM: Mapping[str, frozenset[str]] = {
    "agent": frozenset({"agent"}),
    "customer": frozenset({"agent", "customer"}),
}
# Votes older than this many half-lives weigh under 0.1%; they are not kept in memory.
HORIZON_HALF_LIVES = 10


@dataclass(frozen=True)
class FeedbackParams:
    step: float = 0.05  # blend score per fresh vote
    cap: float = 0.1  # most a table's score moves, up or down
    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("step", "cap", "half_life_days"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def horizon(self) -> timedelta:
        return timedelta(days=self.half_life_days * HORIZON_HALF_LIVES)


@dataclass(frozen=True)
class Vote:
    key: str  # query_key of the query it was given on
    table_id: int
    helpful: bool
    at: datetime
    channel: str  # agent | customer


def query_key(text: str) -> str:
    """The form under which votes are matched to queries (see the module docstring)."""
    return "".join(ch for ch in normalize(text) if unicodedata.category(ch)[0] not in "PZSC")


def vote_weight(age: timedelta, half_life_days: float) -> float:
    """1 for a fresh vote, halving every ``half_life_days``."""
    days = max(age.total_seconds(), 0.0) / 86400
    return float(0.5 ** (days / half_life_days))


def adjustments(
    votes: Iterable[Vote], *, channel: str, now: datetime, params: FeedbackParams
) -> dict[int, float]:
    """Per table: the bounded, decayed sum of the votes ``channel`` trusts (zero left out)."""
    trusted = VOTES_FROM[channel]
    totals: dict[int, float] = {}
    for vote in votes:
        if vote.channel not in trusted or vote.at > now:
            continue
        weight = vote_weight(now - vote.at, params.half_life_days)
        totals[vote.table_id] = totals.get(vote.table_id, 0.0) + (
            weight if vote.helpful else -weight
        )
    return {
        table_id: max(-params.cap, min(params.cap, params.step * total))
        for table_id, total in totals.items()
        if total != 0.0
    }


class VoteBook:
    """Votes by query key, for a searcher to look up per query.

    Readers and one writer (under the caller's lock) may overlap: a key's votes are replaced
    by a new tuple in one assignment and :meth:`prune` swaps in a new mapping, so a reader
    sees a key's votes before or after a change, never half of it.
    """

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[Vote, ...]] = {}
        self.last_id = 0  # the highest vote id added (votes are loaded incrementally by id)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_key.values())

    def add(self, votes: Iterable[tuple[int, Vote]]) -> int:
        """Add ``(vote id, vote)`` pairs; returns how many can match a query."""
        added = 0
        for vote_id, vote in votes:
            self.last_id = max(self.last_id, vote_id)
            if not vote.key:
                continue  # a vote sent without any query text matches no search
            self._by_key[vote.key] = (*self._by_key.get(vote.key, ()), vote)
            added += 1
        return added

    def prune(self, before: datetime) -> None:
        """Forget votes cast before ``before`` (they weigh next to nothing by then)."""
        self._by_key = {
            key: kept
            for key, votes in self._by_key.items()
            if (kept := tuple(v for v in votes if v.at >= before))
        }

    def votes_for(self, query: str) -> tuple[Vote, ...]:
        return self._by_key.get(query_key(query), ())

    def adjustments(
        self, query: str, *, channel: str, now: datetime, params: FeedbackParams
    ) -> dict[int, float]:
        """:func:`adjustments` of the votes given on ``query`` (by its key)."""
        return adjustments(self.votes_for(query), channel=channel, now=now, params=params)
