"""Simulated helpful / not-helpful votes, to measure what feedback ranking does.

A seeded share of a dataset's queries is asked once, before the measured runs, on the run's
channel (hybrid mode), and voted on as a careful user of the suggestion list would: helpful on
the best-ranked labelled table *among the suggestions shown* (nothing when none is shown), not
helpful on a wrong first suggestion. The votes go into the throwaway KB's database with the
query's text, exactly as the API records them. A ``noise`` share of the voted queries gets
wrong votes instead (not helpful on the shown labelled table, helpful on the best-ranked wrong
one), to see what mistaken or hostile voters do. The measured runs then report the voted queries
(asked again) and the other queries as two datasets, so that both what votes fix and what they
disturb are visible; whether the votes change the ranking is up to ``ZHIKU_FEEDBACK_RANKING``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from eval.datasets import Dataset
from eval.errors import EvalError
from eval.sandbox import EvalKB
from kb import feedback, tables
from kb.search_contract import SearchRequest
from kb.visibility import Channel

VOTED = "voted"
OTHER = "other"


@dataclass
class VoteCount:
    queries: int = 0
    helpful: int = 0
    not_helpful: int = 0


def voted_qids(dataset: Dataset, share: float, seed: int) -> frozenset[str]:
    """A seeded ``share`` of the query ids (rounded), drawn apart from the holdout draw."""
    if not 0 <= share <= 1:
        raise ValueError("vote share must be in [0, 1]")
    qids = sorted(q.qid for q in dataset.queries)
    return frozenset(random.Random(f"votes-{seed}").sample(qids, round(share * len(qids))))


def cast_votes(
    kb: EvalKB,
    dataset: Dataset,
    voted: frozenset[str],
    held: frozenset[str],
    *,
    channel: str,
    k: int,
    noise: float = 0.0,
    seed: int = 0,
) -> VoteCount:
    """Ask each voted query once and record the votes its suggestions get (module docstring)."""
    if kb.db is None:
        raise EvalError("This evaluation KB has no database to record simulated votes in.")
    if not 0 <= noise <= 1:
        raise ValueError("vote noise must be in [0, 1]")
    wrong = set(random.Random(f"noise-{seed}").sample(sorted(voted), round(noise * len(voted))))
    service = kb.open_service()
    count = VoteCount()
    with kb.db.transaction() as session:
        for query in dataset.queries:
            if query.qid not in voted:
                continue
            count.queries += 1
            result = service.search(SearchRequest(query.query, Channel(channel), k=k))
            shown = [s.code for s in result.suggestions]
            relevant = {dataset.codes[r] for r in query.relevant if r not in held}
            votes = user_votes(shown, relevant, mistaken=query.qid in wrong)
            for code, helpful in votes:
                feedback.record_vote(
                    session,
                    channel=channel,
                    table=tables.get_table(session, code),
                    helpful=helpful,
                    query=query.query,
                )
                if helpful:
                    count.helpful += 1
                else:
                    count.not_helpful += 1
    return count


def user_votes(shown: list[str], relevant: set[str], *, mistaken: bool) -> list[tuple[str, bool]]:
    """(table code, helpful) votes of a careful user on ``shown``, or of a mistaken one."""
    right = next((code for code in shown if code in relevant), None)
    if mistaken:
        misled = next((code for code in shown if code not in relevant), None)
        votes = [(right, False)] if right is not None else []
        return votes + ([(misled, True)] if misled is not None else [])
    votes = [(right, True)] if right is not None else []
    return votes + ([(shown[0], False)] if shown and shown[0] not in relevant else [])
