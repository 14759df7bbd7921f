"""Retrieval benchmarks: datasets, metrics, runs over a throwaway KB, reports and comparisons.

``eval`` uses ``kb/`` and ``indexer/`` the way a user would (the import path and
``SearchService``) and never imports ``api/``.
"""
