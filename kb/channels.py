"""Whose view a search or a page takes: an agent's or a customer's (rules in :mod:`kb.visibility`).

Its own module, free of SQLAlchemy, so that command-line options can name it without loading
the models.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
