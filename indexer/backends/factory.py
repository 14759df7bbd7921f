"""Backends by name: ``ZHIKU_SEARCH_BACKEND`` picks one (as txtai's ``ann.factory`` does)."""

from __future__ import annotations

from indexer.analysis import Analyzer
from indexer.backends.base import SearchBackend
from indexer.backends.embedded import EmbeddedBackend
from indexer.bm25 import BM25Params
from indexer.errors import BackendUnavailable
from kb.settings import Settings

BACKENDS = ("embedded", "milvus")


def create(
    settings: Settings, analyzer: Analyzer, dim: int, bm25: BM25Params | None = None
) -> SearchBackend:
    """The backend ``settings.search_backend`` names (the Milvus one connects lazily)."""
    name = settings.search_backend
    if name == "embedded":
        return EmbeddedBackend(analyzer, dim, bm25, mmap=settings.index_mmap)
    if name == "milvus":
        try:
            from indexer.backends.milvus import MilvusBackend
        except ImportError as err:  # the optional extra is not installed
            raise BackendUnavailable(
                f"ZHIKU_SEARCH_BACKEND=milvus needs pymilvus: pip install 'zhiku[milvus]' ({err})."
            ) from err
        return MilvusBackend.from_settings(settings, analyzer, dim, bm25)
    raise BackendUnavailable(f"Unknown search backend {name!r}; use one of {', '.join(BACKENDS)}.")
