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

from kb import tables, workflow
from kb.content_limits import MAX_QUESTION_CHARS, MAX_QUESTIONS
from kb.errors import Conflict, NotFound
from kb.models import Feedback, KnowledgeTable, Package, QueryLogEntry, Revision, User
from kb.permissions import Action, check

Embed = Callable[[Sequence[str]], np.ndarray]
DEFAULT_FLOOR = 0.35  # below this confidence a search counts as a gap
ATTACH_NOTE = "相似问法来自知识缺口"


@dataclass
class GapCluster:
    name: str  # the most central query
    queries: list[str]  # distinct queries, most frequent first
    volume: int  # how many signals (searches + votes) fell in this cluster
    counts: dict[str, int] = field(default_factory=dict)


def gap_signals(
    session: Session, *, since: datetime, confidence_floor: float = DEFAULT_FLOOR
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


def find_clusters(
    session: Session,
    embed: Embed,
    *,
    since: datetime,
    threshold: float,
    confidence_floor: float = DEFAULT_FLOOR,
) -> list[GapCluster]:
    """The gap clusters of the log since ``since``, biggest first (numbered from 1 by callers)."""
    signals = gap_signals(session, since=since, confidence_floor=confidence_floor)
    return cluster_queries(signals, embed, threshold=threshold)


def cluster_number(
    clusters: Sequence[GapCluster], number: int, *, expected: str | None = None
) -> GapCluster:
    """Cluster ``number`` (1-based); with ``expected``, refuse if it is no longer that intent.

    Clusters are recomputed from the log on every call, so a new search between listing and
    acting can renumber them; ``expected`` (the name the caller saw) catches that.
    """
    if not 1 <= number <= len(clusters):
        raise NotFound(
            f"No gap cluster {number}; there are {len(clusters)} clusters "
            f"(numbered 1–{len(clusters)}) in this window."
            if clusters
            else f"No gap cluster {number}; there are no knowledge gaps in this window."
        )
    cluster = clusters[number - 1]
    if expected is not None and cluster.name != expected.strip():
        raise Conflict(
            f"Gap cluster {number} is now “{cluster.name}”, not “{expected.strip()}”: the query "
            "log changed since the list was loaded; reload the gaps and choose again."
        )
    return cluster


def draft_from_gap(
    session: Session,
    user: User,
    cluster: GapCluster,
    package: Package,
    *,
    code: str,
    fields: dict[str, object],
    title: str | None = None,
) -> KnowledgeTable:
    """A new draft table answering the cluster; its queries become the similar questions.

    It is an ordinary draft by ``user`` (who needs the draft permission in ``package``) and
    goes live only through submit → approve.
    """
    questions, left = _as_questions(cluster.queries, [])
    content = tables.TableContent(
        title=title or cluster.name, questions=questions, tags=[], fields=dict(fields)
    )
    return workflow.create(session, user, package, code, content, note=_left_out(left))


def attach_to_table(session: Session, user: User, code: str, queries: Sequence[str]) -> Revision:
    """A draft of table ``code`` with ``queries`` added to its similar questions, for review.

    Follows :func:`kb.workflow.edit`: a live table gets a new draft (the live revision stays
    live), the author's open draft is extended, a revision in review is refused.
    """
    table = tables.get_table(session, code)
    check(user, Action.DRAFT, table.package)
    latest = table.latest_revision
    current = list(latest.questions)
    fresh = [q for q in dict.fromkeys(queries) if q not in current and q != latest.title]
    added, left = _as_questions(fresh, current)
    if not added:
        raise Conflict(
            f"Every query of this gap is already a similar question of {code}"
            + (f" or cannot be one ({_left_out(left)})" if left else "")
            + "; nothing to attach. Look at its ranking with `kb hit-test` instead."
        )
    change = workflow.Edit(questions=[*current, *added])
    note = f"{ATTACH_NOTE}；{_left_out(left)}" if left else ATTACH_NOTE
    return workflow.edit(session, user, code, change, note=note)


def _as_questions(queries: Sequence[str], have: Sequence[str]) -> tuple[list[str], list[str]]:
    """The queries that can join ``have`` as similar questions, within a table's caps (a
    customer's contact question runs to 500 characters, a similar question to 300), and the
    ones left out."""
    room = max(0, MAX_QUESTIONS - len(have))
    short = [q for q in queries if len(q) <= MAX_QUESTION_CHARS]
    kept = short[:room]
    return kept, [q for q in queries if q not in kept]


def _left_out(left: Sequence[str]) -> str:
    if not left:
        return ""
    return (
        f"{len(left)} 条问法未加入（每条至多 {MAX_QUESTION_CHARS} 字，每张知识表至多 "
        f"{MAX_QUESTIONS} 条）"
    )
