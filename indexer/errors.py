"""Errors of the search index; all are :class:`kb.errors.ZhikuError` so the edges report them.

IndexerError (500)
├── IndexNotBuilt (503)   no index on disk yet
├── IndexMismatch (409)   the index on disk was built for other settings or another format
├── EncoderUnavailable (500)  the configured encoder cannot be loaded
└── BackendUnavailable (503)  the search backend is not installed or cannot be reached
"""

from __future__ import annotations

from kb.errors import ZhikuError


class IndexerError(ZhikuError):
    status = 500


class IndexNotBuilt(IndexerError):
    status = 503


class IndexMismatch(IndexerError):
    status = 409


class EncoderUnavailable(IndexerError):
    status = 500


class BackendUnavailable(IndexerError):
    status = 503
