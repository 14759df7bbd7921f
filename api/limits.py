"""Request limits: generous for people, tight enough that one request cannot hog the service."""

from __future__ import annotations

MAX_QUERY_CHARS = 200  # a customer question or an agent's search, after trimming
MAX_TRANSCRIPT_TURNS = 200
MAX_TURN_CHARS = 2000
MAX_K = 20  # suggestions per search
MAX_PAGE_SIZE = 100  # rows per page of any list
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # an import file
# A request's whole body, checked as it is received (before it is parsed or authenticated):
# a table at its content caps (kb.content_limits) written as escaped JSON is under 2 MiB.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024  # the import route: file and form
MAX_COMMENT_CHARS = 2000
