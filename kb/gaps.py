"""Knowledge gaps: what people asked and did not find, grouped by intent.

Signals are logged searches that abstained or whose best suggestion was below a confidence
floor, plus not-helpful votes. Identical normalized queries are merged first; the rest are
grouped by embedding similarity (leader clustering on L2-normalized vectors, most frequent
queries first), so the encoder decides what "the same intent" means. Each cluster is named by
its most central query and clusters are ranked by volume.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import tables
from kb.models import Feedback, KnowledgeTable, Package, QueryLogEntry, Revision, RevisionState

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass
class GapCluster:
    name: str  # the most central query
    queries: list[str]  # distinct queries, most frequent first
    volume: int  # how many signals (searches + votes) fell in this cluster
    counts: dict[str, int] = field(default_factory=dict)


def gap_signals(
    session: Session, *, since: datetime, confidence_floor: float = 0.35
) -> Counter[str]:
    """Counts of gap queries (as typed, stripped) since ``since``."""
    found: Counter[str] = Counter()
    for entry in session.scalars(select(QueryLogEntry).where(QueryLogEntry.at >= since)):
        top = entry.results[0]["confidence"] if entry.results else 0.0
        if entry.abstained or top < confidence_floor:
            text = entry.query.strip()
            if text:
                found[text] += 1
    votes = select(Feedback).where(Feedback.at >= since, Feedback.helpful.is_(False))
    for vote in session.scalars(votes):
        if vote.query.strip():
            found[vote.query.strip()] += 1
    return found


def cluster_queries(counts: Counter[str], embed: Embed, *, threshold: float) -> list[GapCluster]:
    """Group queries whose embeddings are at least ``threshold`` cosine-similar to a cluster."""
    if not counts:
        return []
    texts = sorted(counts, key=lambda t: (-counts[t], t))
    vectors = np.asarray(embed(texts), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
    members: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vec in enumerate(vectors):
        best, best_sim = -1, -1.0
        for c, total in enumerate(sums):
            centroid = total / (np.linalg.norm(total) + 1e-12)
            sim = float(centroid @ vec)
            if sim > best_sim:
                best, best_sim = c, sim
        if best >= 0 and best_sim >= threshold:
            members[best].append(i)
            sums[best] = sums[best] + vec * counts[texts[i]]
        else:
            members.append([i])
            sums.append(vec * counts[texts[i]])
    clusters = []
    for group in members:
        sub = vectors[group]
        weights = np.array([counts[texts[i]] for i in group], dtype=np.float32)
        centrality = (sub @ sub.T) @ weights
        name = texts[group[int(np.argmax(centrality))]]
        queries = [texts[i] for i in group]
        clusters.append(
            GapCluster(
                name=name,
                queries=queries,
                volume=int(weights.sum()),
                counts={q: counts[q] for q in queries},
            )
        )
    clusters.sort(key=lambda c: (-c.volume, c.name))
    return clusters


def draft_from_gap(
    session: Session,
    cluster: GapCluster,
    package: Package,
    *,
    code: str,
    fields: dict[str, object],
    actor: str,
    title: str | None = None,
) -> KnowledgeTable:
    """A new draft table answering the cluster; its queries become the similar questions."""
    content = tables.TableContent(
        title=title or cluster.name, questions=list(cluster.queries), tags=[], fields=dict(fields)
    )
    return tables.create_table(
        session, package, code, content, tables.TableMeta(), actor=actor, state=RevisionState.DRAFT
    )


def attach_to_table(
    session: Session, table: KnowledgeTable, queries: Sequence[str], *, actor: str
) -> Revision:
    """A draft revision of ``table`` with ``queries`` added to its similar questions."""
    base = table.live_revision or table.latest_revision
    content = tables.content_of(base)
    content.questions = [*content.questions, *(q for q in queries if q not in content.questions)]
    return tables.add_revision(
        session, table, content, actor=actor, note="相似问法来自知识缺口", based_on=base.number
    )
