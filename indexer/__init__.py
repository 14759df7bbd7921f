"""Hybrid Chinese retrieval for Zhiku: analysis, BM25, embeddings, FAISS, fusion, search.

The entry point is :class:`indexer.service.SearchService`; the CLI and the API use it alike.
This package reads the knowledge model from ``kb`` and never imports ``api``.
"""
