"""The visibility rules as one mask over every table: the same verdict as the rule itself."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from indexer.admission import Admission
from indexer.backends.base import Filters
from indexer.documents import IndexDocument

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _doc(table_id: int, rng: random.Random) -> IndexDocument:
    def moment() -> datetime | None:
        return rng.choice(
            [None, T0 + timedelta(days=rng.randint(-40, 40), seconds=rng.choice([0, 1]))]
        )

    return IndexDocument(
        table_id=table_id,
        code=f"T-{table_id}",
        title=f"表{table_id}",
        questions=[],
        tags=rng.sample(["开户", "挂失", "转账"], rng.randint(0, 2)),
        category=rng.choice(["银行业务", "通信业务"]),
        package=rng.choice(["信用卡", "宽带"]),
        package_id=1,
        audience=rng.choice(["public", "internal"]),
        revision=1,
        live_revision_id=table_id,
        fields=[],
        valid_from=_iso(moment()),
        valid_until=_iso(moment()),
        last_verified_at=_iso(moment()),
        published_at=_iso(T0 - timedelta(days=rng.randint(0, 90))),
        review_interval_days=rng.choice([0, 30, 60]),
    )


def _docs(n: int, seed: int = 3) -> list[IndexDocument]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, 4 * n), n)  # sparse ids, as a KB's are after deletions
    return [_doc(t, rng) for t in ids]


def _moments(docs: list[IndexDocument]) -> list[datetime]:
    """Every bound of every window, a microsecond either side, and a few others."""
    out = [T0 - timedelta(days=400), T0, T0 + timedelta(days=400)]
    for doc in docs:
        w = doc.window()
        for bound in (w.valid_from, w.expires_at):
            if bound is not None:
                out += [bound - timedelta(microseconds=1), bound, bound + timedelta(microseconds=1)]
    return out


FILTERS = [
    {"channel": "agent"},
    {"channel": "agent", "include_expired": True},
    {"channel": "customer"},
    {"channel": "customer", "include_expired": True},
    {"channel": "agent", "category": "银行业务"},
    {"channel": "customer", "package": "通信业务/宽带", "tags": ("开户",)},
]


@pytest.mark.parametrize("values", FILTERS)
def test_the_mask_says_what_the_rule_says_of_every_table_at_every_bound(
    values: dict[str, object],
) -> None:
    docs = _docs(60)
    admission = Admission()
    admission.reset(docs)
    for now in _moments(docs):
        filters = Filters(now=now, **values)  # type: ignore[arg-type]
        admitted = admission.admitted(filters)
        assert [d.table_id in admitted for d in docs] == [filters.admits(d) for d in docs], now


def test_without_a_time_every_indexed_table_is_admitted() -> None:
    docs = _docs(10)
    admission = Admission()
    admission.reset(docs)
    admitted = admission.admitted(Filters(channel="customer"))
    assert all(d.table_id in admitted for d in docs)
    assert 0 not in admitted and -1 not in admitted and 10_000 not in admitted


def test_one_mask_serves_until_a_bound_passes_or_the_tables_change() -> None:
    docs = _docs(30)
    admission = Admission()
    admission.reset(docs)
    bounds = sorted(
        b for d in docs for b in (d.window().valid_from, d.window().expires_at) if b is not None
    )
    start, end = next(
        (a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b - a > timedelta(seconds=2)
    )
    first = admission.admitted(Filters(channel="customer", now=start + timedelta(seconds=1)))
    again = admission.admitted(Filters(channel="customer", now=end - timedelta(microseconds=1)))
    assert again is first  # the same epoch: no bound between the two moments
    later = admission.admitted(Filters(channel="customer", now=end))
    assert later.key != first.key

    # An edit: the table's new values count at once, and no mask of before is served.
    doc = docs[0]
    doc.audience = "internal" if doc.audience == "public" else "public"
    doc._window = None
    admission.set([doc])
    now = start + timedelta(seconds=1)
    filters = Filters(channel="customer", now=now)
    assert (doc.table_id in admission.admitted(filters)) == filters.admits(doc)
    admission.drop([doc.table_id])
    assert doc.table_id not in admission.admitted(filters)
    assert doc.table_id not in admission.admitted(Filters(channel="agent"))


def test_of_reads_many_ids_at_once_unknown_ones_refused() -> None:
    docs = _docs(20)
    admission = Admission()
    admission.reset(docs)
    admitted = admission.admitted(Filters(channel="agent", now=T0))
    ids = np.asarray([d.table_id for d in docs] + [-1, 0, 10**6], np.int64)
    assert admitted.of(ids).tolist() == [t in admitted for t in ids.tolist()]
