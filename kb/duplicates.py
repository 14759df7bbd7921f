"""Authoring check: is this title or similar question already answered by another table?

Two tables answering the same question differently is how an agent ends up reading the wrong
one to a customer, so submitting a revision warns (never refuses) about near-identical titles
and questions elsewhere. :class:`DuplicateFinder` is the seam: the default looks at live
titles and questions in the database; the retrieval index can be plugged in instead.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from kb.models import KnowledgeTable, Revision

_NOISE = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Similar:
    code: str
    title: str
    score: float

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "title": self.title, "score": round(self.score, 3)}


class DuplicateFinder(Protocol):
    def similar(self, texts: list[str], exclude_code: str) -> list[tuple[str, str, float]]:
        """Other tables whose title or questions nearly equal one of ``texts``: (code, title, score)."""
        ...


def normalize(text: str) -> str:
    """NFKC, case-folded, without punctuation or spaces: '改号后，还扣费吗？' → '改号后还扣费吗'."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of normalized text (a one-character text is its own 'bigram')."""
    norm = normalize(text)
    if len(norm) < 2:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i : i + 2] for i in range(len(norm) - 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


class BigramDuplicateFinder:
    """Character-bigram Jaccard similarity against every live table's title and questions.

    At the default 0.8 this finds near-identical text: the same question with other
    punctuation, spacing, width or case (改号后，原号码是否还会产生话费？ scores 1.0 against
    改号后原号码是否还会产生话费), or one character changed in a long one. Rewordings
    (…产生费用: 0.73; 如何 for 怎么: 0.45) are the retrieval index's job. Linear in the KB's
    size, which is fine for the thousands of tables a submit-time check sees.
    """

    def __init__(self, session: Session, threshold: float = 0.8) -> None:
        self.session = session
        self.threshold = threshold

    def similar(self, texts: list[str], exclude_code: str) -> list[tuple[str, str, float]]:
        wanted = [g for g in (bigrams(t) for t in texts) if g]
        if not wanted:
            return []
        rows = self.session.scalars(
            select(KnowledgeTable)
            .where(KnowledgeTable.live_revision_id.is_not(None))
            .where(KnowledgeTable.code != exclude_code)
            .options(joinedload(KnowledgeTable.live_revision))
        ).unique()
        found: list[tuple[str, str, float]] = []
        for table in rows:
            live: Revision | None = table.live_revision
            if live is None:
                continue
            theirs = [bigrams(t) for t in [live.title, *live.questions]]
            best = max((jaccard(w, t) for w in wanted for t in theirs), default=0.0)
            if best >= self.threshold:
                found.append((table.code, live.title, best))
        found.sort(key=lambda item: (-item[2], item[0]))
        return found
