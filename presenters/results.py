"""A search result as people see it: in the order of the confidence shown, and how sure it is.

The retriever ranks by its blended score, and the confidence is a separate calibrated estimate
that a suggestion answers the question; the two can disagree (a card at 29% above one at 36%).
What is shown is ordered by the confidence as shown (in whole percent; ties keep the retrieval
order, which is where votes count), and each suggestion keeps its retrieval rank. Below
:data:`UNSURE_BELOW` a suggestion is more likely wrong than right: shown as 无把握.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from presenters.base import Entry

if TYPE_CHECKING:
    from kb.search_contract import SearchResult, Suggestion

UNSURE_BELOW = 0.5


def percent(confidence: float) -> int:
    """The confidence as the pages and the CLI show it, in whole percent."""
    return round(confidence * 100)


def shown_order(suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """Best shown confidence first; equal shown figures keep the retrieval order."""
    return sorted(suggestions, key=lambda s: (-percent(s.confidence), s.rank))


def unsure(confidence: float) -> bool:
    return confidence < UNSURE_BELOW


def as_shown(result: SearchResult) -> SearchResult:
    """``result`` in shown order; it abstains when the first shown suggestion is under the
    threshold (what the query log and usage counters record, too)."""
    ordered = shown_order(result.suggestions)
    abstained = not ordered or ordered[0].confidence < result.threshold
    return replace(result, suggestions=tuple(ordered), abstained=abstained)


def entry_of(suggestion: Suggestion, *, public: bool | None = None) -> Entry:
    """A suggestion's table as an :class:`Entry` (its fields as the channel saw them)."""
    return Entry.of(
        code=suggestion.code,
        title=suggestion.title,
        path=(suggestion.category, suggestion.package),
        fields=suggestion.fields,
        public=suggestion.audience == "public" if public is None else public,
    )
