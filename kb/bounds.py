"""Bounds on the numbers any caller may ask with, the API's and the CLI's alike.

An id or a revision number is stored as PostgreSQL's INTEGER (SQLite: 64 bits): past it a
driver fails, so it is refused first. A look-back window of days stays within a year (past the
calendar's end, the date arithmetic overflows).
"""

from __future__ import annotations

MAX_ID = 2**31 - 1  # ids, revision numbers and counters
MAX_DAYS = 365  # a window looked back or ahead, in days
MAX_LIST = 500  # rows one listing returns
