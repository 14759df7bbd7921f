"""How much one knowledge table may hold, checked on every write path (API, CLI, import).

A table is one topic: a few dozen similar questions and a page of answer, not ten thousand
(10,000 similar questions made a submission take 17 s and every matching search 30× slower).
The caps are part of the content model, not settings, so that content exported from one
Zhiku imports into any other.
"""

from __future__ import annotations

MAX_TITLE_CHARS = 300
MAX_QUESTIONS = 200  # similar questions per table
MAX_QUESTION_CHARS = 300
MAX_TAGS = 30
MAX_TAG_CHARS = 50
MAX_RELATED = 50  # related-table links per table
MAX_TEXT_FIELD_CHARS = 20_000  # one text or markdown field
MAX_LIST_ITEMS = 100  # items of one steps or list field
MAX_LIST_ITEM_CHARS = 2_000
