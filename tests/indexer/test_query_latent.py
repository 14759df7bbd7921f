"""A query's latent terms: encoded ahead and always read where a core is spare; under load,
read only where the pool's lead leaves the first place open."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from indexer.analysis import Analyzer
from indexer.encoders import FakeEncoder
from indexer.fusion import FusionParams, settled, with_latent
from indexer.index import HybridIndex
from indexer.latent import expand, pack
from indexer.query_latent import (
    FUSED_BREAK_EVEN,
    SEARCHES,
    LatentNeed,
    PendingLatent,
    SearchLoad,
    idle_core,
    query_plan,
    reads_latent,
    usable_cores,
)
from kb.settings import Settings
from tests.indexer.test_latent import DOCS, _CountingEncoder, _doc

MORE = [
    _doc(4, "副卡怎么办理", "主卡机主带身份证到营业厅办理副卡，副卡共享主卡套餐。"),
    _doc(5, "流量不够用怎么办", "可以订购流量加装包，当月有效，次月自动失效。"),
    _doc(6, "国际漫游怎么开通", "发送KTMY到10086开通国际漫游，出境前一天办理。"),
]
LEADING = "话费怎么查询"  # one table far ahead of the rest
OPEN = "次月生效吗"  # two tables close: the latent terms may decide
QUESTIONS = [LEADING, OPEN, "副卡余额退不退", "流量加装包", "国际漫游流量收费吗", "宽带坏了"]


def _index(encoder: _CountingEncoder, **fusion: float) -> HybridIndex:
    index = HybridIndex(encoder, Analyzer(), fusion=FusionParams(**fusion))
    index.build([*DOCS, *MORE], calibrate=False)
    encoder.latent_texts = []  # the tables' own: only the queries' are counted
    return index


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every core busy with other searches: nothing is encoded ahead."""
    monkeypatch.setattr(SEARCHES, "spare_below", 0)


def test_a_pool_led_by_a_standard_deviation_is_settled() -> None:
    assert settled(np.asarray([3.0, 1.0, 0.9, 0.8]), 1.0)
    assert not settled(np.asarray([3.0, 2.9, 0.9, 0.8]), 1.0)
    assert not settled(np.asarray([3.0, 1.0, 0.9, 0.8]), 0.0)  # 0: never settled
    assert not settled(np.asarray([2.0, 2.0]), 1.0) and not settled(np.asarray([5.0]), 1.0)


def test_the_latent_terms_of_a_settled_pool_are_not_read() -> None:
    def unread() -> np.ndarray:
        raise AssertionError("read")

    hybrid = np.asarray([3.0, 1.0, 0.9, 0.8])
    assert with_latent(hybrid, unread, 0.4, 1.0) == (hybrid, None)
    calls: list[int] = []

    def read() -> np.ndarray:
        calls.append(1)
        return np.asarray([0.1, 0.9, 0.2, 0.3])

    joined, part = with_latent(hybrid, read, 0.4, 0.0)
    assert calls == [1] and part is not None
    assert np.allclose(joined, with_latent(hybrid, read(), 0.4)[0])


@pytest.mark.usefixtures("busy")
def test_under_load_a_query_s_latent_terms_are_encoded_only_where_they_can_decide() -> None:
    encoder = _CountingEncoder()
    index = _index(encoder)
    led = index.retrieve(LEADING, channel="agent")
    assert encoder.latent_texts == []  # the second pass of the encoder was never run
    assert all(c.latent is None and c.latent_part == 0 for c in led.candidates)
    assert "latent_ms" not in led.timings
    opened = index.retrieve(OPEN, channel="agent")
    assert encoder.latent_texts == [OPEN]
    assert opened.candidates[0].latent is not None and opened.candidates[0].latent_part != 0
    assert "latent_ms" in opened.timings
    for mode in ("bm25", "dense"):  # only the hybrid ranking reads them
        index.retrieve("流量次月自动失效吗", channel="agent", mode=mode)
    assert encoder.latent_texts == [OPEN]


def test_with_a_core_to_spare_every_pool_reads_them_encoded_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ahead, when_read = _CountingEncoder(), _CountingEncoder()
    spare, busy = _index(ahead), _index(when_read)
    for question in QUESTIONS:
        with monkeypatch.context() as m:
            m.setattr(SEARCHES, "spare_below", 1_000)  # whatever else this process runs
            first = spare.retrieve(question, channel="customer")
        with monkeypatch.context() as m:
            m.setattr(SEARCHES, "spare_below", 0)
            second = busy.retrieve(question, channel="customer")
        assert first.candidates[0].latent is not None and first.candidates[0].latent_part != 0
        # Under load a settled pool keeps its first suggestion without them.
        assert first.candidates[0].table_id == second.candidates[0].table_id, question
        if second.candidates[0].latent is not None:  # read under load too: the same ranking
            assert first.candidates == second.candidates, question
    assert ahead.latent_texts == QUESTIONS
    assert LEADING not in when_read.latent_texts and OPEN in when_read.latent_texts


@pytest.mark.usefixtures("busy")
def test_with_no_lead_to_settle_every_hybrid_search_reads_them() -> None:
    encoder = _CountingEncoder()
    index = _index(encoder, latent_lead=0.0)
    for question in QUESTIONS:
        index.retrieve(question, channel="agent")
    assert encoder.latent_texts == QUESTIONS


def test_a_search_has_a_spare_core_while_fewer_than_half_the_cores_search() -> None:
    load = SearchLoad(cores=4)
    with load.search() as first, load.search() as second, load.search() as third:
        assert (first, second, third) == (True, True, False)
    with load.search() as again:
        assert again  # the count went back down
    assert SearchLoad(cores=1).spare_below == 1  # one core: a lone search still goes ahead


def test_worker_processes_each_count_on_their_share_of_the_cores() -> None:
    load = SearchLoad(cores=16)
    assert load.spare_below == 8
    load.share_with(4)  # kb serve --workers 4: each sees only its own searches
    assert load.spare_below == 2
    load.share_with(16)
    assert load.spare_below == 1  # a lone search still goes ahead
    load.share_with(1)
    assert load.spare_below == 8


def test_pending_latent_terms_are_read_once() -> None:
    calls: list[str] = []
    gate = threading.Event()

    def read() -> np.ndarray:
        gate.wait(5)
        calls.append(threading.current_thread().name)
        return np.ones(2)

    ahead = PendingLatent(read, ahead=True)
    gate.set()
    assert ahead.started_ahead and ahead.get() is ahead.get()
    assert calls[0].startswith("zhiku-latent") and len(calls) == 1
    later = PendingLatent(read, ahead=False)
    assert not later.started_ahead and later.get() is later.get() and len(calls) == 2


def test_zhiku_latent_read_says_when_a_search_reads_them_all() -> None:
    assert [reads_latent(p, spare_core=True) for p in ("auto", "always", "lean")] == [
        True,
        True,
        False,
    ]
    assert [reads_latent(p, spare_core=False) for p in ("auto", "always", "lean")] == [
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="ZHIKU_LATENT_READ='sometimes' is not supported"):
        Settings(latent_read="sometimes")


def test_always_reads_them_under_load_and_lean_settles_with_a_core_to_spare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    always, lean = _CountingEncoder(), _CountingEncoder()
    busy_always, spare_lean = _index(always), _index(lean)
    busy_always.latent_read, spare_lean.latent_read = "always", "lean"
    monkeypatch.setattr(SEARCHES, "spare_below", 0)
    busy_always.retrieve(LEADING, channel="agent")
    monkeypatch.setattr(SEARCHES, "spare_below", 1_000)
    spare_lean.retrieve(LEADING, channel="agent")
    assert always.latent_texts == [LEADING] and lean.latent_texts == []


def test_a_container_s_cpu_quota_caps_the_cores_counted(tmp_path: Path) -> None:
    pinned = len(os.sched_getaffinity(0))
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs: two cores in use at most
    assert usable_cores(v2) == min(pinned, 2)
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == pinned
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # no quota
    assert usable_cores(v1) == pinned
    (v2 / "cpu.max").write_text("garbage")
    assert usable_cores(v2) == pinned and usable_cores(tmp_path / "none") == pinned


class _FusedEncoder(_CountingEncoder):
    """A fake whose one query pass gives the vector and the latent terms of "query " + text."""

    def __init__(self) -> None:
        super().__init__()
        self._fused = True


@pytest.mark.usefixtures("busy")
def test_a_fused_pass_gives_every_new_question_its_latent_terms_with_its_vector() -> None:
    """One pass of the encoder per new question, whatever the load: every pool reads the
    latent terms (nothing to spare), and they are the query form's, not the raw text's."""
    encoder = _FusedEncoder()
    index = _index(encoder)
    assert index.latent_encoder is not None and index.latent_encoder.fused
    assert index.query_encoding.startswith("one pass: its vector and latent terms")
    assert _index(_CountingEncoder()).query_encoding.startswith("two passes")
    encoder.passes = 0
    for question in (LEADING, OPEN):
        found = index.retrieve(question, channel="agent")
        assert all(c.latent is not None for c in found.candidates)
    assert encoder.passes == 2 and encoder.latent_texts == ["query " + LEADING, "query " + OPEN]
    index.retrieve(OPEN, channel="customer")  # asked again: nothing encoded
    assert encoder.passes == 2
    expected = expand(pack(*FakeEncoder().latent(["query " + OPEN])[0]), index.latent.space)
    assert np.array_equal(index.query_latent(OPEN), expected)


def test_self_tuning_s_pseudo_queries_get_the_latent_terms_of_the_same_pass() -> None:
    encoder = _FusedEncoder()
    index = _index(encoder)
    encoder.passes, encoder.latent_texts = 0, []
    index.prime_latents(["副卡余额怎么退", "漫游流量贵不贵"])
    assert encoder.passes == 2
    assert sorted(encoder.latent_texts) == ["query 副卡余额怎么退", "query 漫游流量贵不贵"]
    raw = HybridIndex(_CountingEncoder(), Analyzer()).latent_encoder
    assert raw is not None and not raw.fused
    fused = index.latent_encoder
    assert fused is not None and fused.queries.id != raw.queries.id  # cached apart


def test_a_core_is_idle_where_fewer_threads_run_than_cores_less_one(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    cores = usable_cores()
    loadavg.write_text("0.50 0.40 0.30 1/120 4242\n")  # only the caller runs
    assert idle_core(loadavg) == (cores > 1)
    loadavg.write_text(f"3.00 2.00 1.00 {cores + 1}/120 4242\n")  # every core taken
    assert not idle_core(loadavg)
    loadavg.write_text("garbled")
    assert not idle_core(loadavg)  # unknown: no second thread
    assert not idle_core(tmp_path / "missing")


def test_the_fused_pass_is_left_under_load_where_few_pools_read_the_latent_terms() -> None:
    """Under load the lean two passes cost less where most pools settle without the terms."""
    assert query_plan("auto", spare_core=True, fused=True, need=0.0) == (True, True)
    assert query_plan("auto", spare_core=False, fused=True, need=0.5) == (True, True)
    assert query_plan("auto", spare_core=False, fused=True, need=0.05) == (False, False)
    assert query_plan("always", spare_core=False, fused=True, need=0.0) == (True, True)
    assert query_plan("lean", spare_core=True, fused=True, need=1.0) == (False, False)
    assert query_plan("auto", spare_core=True, fused=False, need=1.0) == (False, True)
    need = LatentNeed()
    for _ in range(150):
        need.observe(False)
    assert need.share < FUSED_BREAK_EVEN
    for _ in range(30):
        need.observe(True)
    assert need.share > FUSED_BREAK_EVEN


@pytest.mark.usefixtures("busy")
def test_under_load_a_kb_whose_pools_settle_searches_in_the_lean_two_passes() -> None:
    encoder = _FusedEncoder()
    index = _index(encoder)
    index.latent_need.share = 0.0  # its pools have settled lately
    encoder.passes, encoder.latent_texts = 0, []
    index.retrieve(LEADING, channel="agent")
    assert encoder.passes == 0 and encoder.latent_texts == []  # the vector's pass alone
    index.latent_need.share = 1.0
    index.retrieve(OPEN, channel="agent")
    assert encoder.passes == 1
