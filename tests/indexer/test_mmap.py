"""An index loaded with mmap answers exactly as one read into memory, and can still be edited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer import dense, store
from indexer.analysis import Analyzer
from indexer.backends import embedded
from indexer.documents import IndexDocument
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex
from indexer.service import SearchService
from kb.db import Database
from kb.settings import Settings
from kb.visibility import Channel

QUERIES = ("改號後舊號碼還扣費嗎", "PayPal", "5G套餐", "额度调整", "ETC设备怎么激活")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Memory mapping is the embedded backend's: tested on it whatever ZHIKU_SEARCH_BACKEND says
    (``make test-milvus`` runs tests/indexer through Milvus)."""
    return Settings(data_dir=tmp_path / "data", encoder="fake", search_backend="embedded")


@pytest.fixture(params=["flat", "sq8", "hnsw"])
def faiss_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each FAISS index type the size thresholds pick, at test size."""
    if request.param in ("sq8", "hnsw"):
        monkeypatch.setattr(dense, "SQ8_MIN_VECTORS", 1)
    if request.param == "hnsw":
        monkeypatch.setattr(dense, "HNSW_MIN_VECTORS", 1)
    return str(request.param)


def _load(settings: Settings, directory: Path, *, mmap: bool) -> HybridIndex:
    index, _ = store.load(
        directory, FakeEncoder(), Analyzer(), kinds=settings.vector_kinds, mmap=mmap
    )
    return index


def _answers(index: HybridIndex) -> list[list[tuple[int, float, float]]]:
    out = []
    for query in QUERIES:
        for channel in (Channel.AGENT.value, Channel.CUSTOMER.value):
            found = index.retrieve(query, channel=channel, k=10).candidates
            out.append([(c.table_id, c.score, c.confidence) for c in found])
    return out


def _mapped(array: np.ndarray) -> bool:
    while array is not None:
        if isinstance(array, np.memmap):
            return True
        array = array.base  # type: ignore[assignment]
    return False


def test_mapped_index_answers_like_the_one_read_into_memory(
    settings: Settings, filled_db: Database, faiss_kind: str
) -> None:
    built = SearchService.build(settings, filled_db).index
    read = _load(settings, settings.index_dir, mmap=False)
    mapped = _load(settings, settings.index_dir, mmap=True)
    assert (settings.index_dir / embedded.FAISS).exists()
    assert _answers(mapped) == _answers(read) == _answers(built)
    # The big arrays are file mappings, not copies.
    assert _mapped(mapped.dense.vectors) and not _mapped(read.dense.vectors)
    assert _mapped(mapped.lexical.body._b_slots) and _mapped(mapped.lexical.body._r_terms)
    assert mapped.dense._mapped and not read.dense._mapped
    assert (mapped.dense._hnsw, mapped.dense._approximate) == (
        faiss_kind == "hnsw",
        faiss_kind != "flat",
    )


def test_a_mapped_index_takes_edits_like_one_in_memory(
    settings: Settings, filled_db: Database, faiss_kind: str
) -> None:
    built = SearchService.build(settings, filled_db).index
    read = _load(settings, settings.index_dir, mmap=False)
    mapped = _load(settings, settings.index_dir, mmap=True)
    doc: IndexDocument = built.docs[min(built.docs)]
    gone = max(built.docs)
    for index in (read, mapped):
        index.retrieve("5G", channel="agent")  # the FAISS index is in use before the edit
        index.remove([gone])
        index.upsert([doc])
    assert not mapped.dense._mapped  # copied out of the file at the first edit
    assert _answers(mapped) == _answers(read)
    assert all(gone not in {t for t, _, _ in found} for found in _answers(mapped))


def test_an_index_saved_without_the_new_files_still_loads(
    settings: Settings, filled_db: Database
) -> None:
    built = SearchService.build(settings, filled_db).index
    (settings.index_dir / embedded.FAISS).unlink()
    for name in ("head_bm25_row_terms", "body_bm25_row_terms"):
        (settings.index_dir / f"{name}.npy").unlink()
    mapped = _load(settings, settings.index_dir, mmap=True)
    assert _answers(mapped) == _answers(built)


def test_the_service_loads_mapped_by_default(settings: Settings, filled_db: Database) -> None:
    SearchService.build(settings, filled_db)
    assert SearchService.open(settings, filled_db, sync=False).index.dense._mapped
    off = settings.model_copy(update={"index_mmap": False})
    assert not SearchService.open(off, filled_db, sync=False).index.dense._mapped
