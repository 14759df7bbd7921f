"""Field-by-field differences between two revisions of a table, for reviewers.

Title, similar questions, tags, then each template field by its label. Lists (questions,
tags, steps) are compared item by item; text of more than one sentence is split into
sentences and shown as a unified diff, since a Chinese answer is often one long line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from kb import repository, tables
from kb.errors import NotFound
from kb.hierarchy import specs_of
from kb.models import KnowledgeTable, Revision

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;]*|\n")


@dataclass
class Change:
    key: str  # "title", "questions", "tags", or a field key
    label: str  # what people call it (标题, 相似问法, 标签, or the template label)
    kind: str  # added / removed / changed
    before: Any
    after: Any
    removed: list[str] = field(default_factory=list)  # list items gone (lists only)
    added: list[str] = field(default_factory=list)  # list items new (lists only)
    lines: list[str] = field(default_factory=list)  # "- old" / "+ new" / unified diff lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "before": self.before,
            "after": self.after,
            "removed": self.removed,
            "added": self.added,
            "lines": self.lines,
        }


@dataclass
class RevisionDiff:
    code: str
    a: int
    b: int
    changes: list[Change]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "a": self.a,
            "b": self.b,
            "changes": [c.to_dict() for c in self.changes],
        }

    def render(self) -> str:
        if not self.changes:
            return f"{self.code}: revisions {self.a} and {self.b} have the same content."
        out = [f"{self.code}: revision {self.a} → {self.b}"]
        for change in self.changes:
            out.append(f"## {change.label} ({change.key}) {change.kind}")
            out.extend(change.lines)
        return "\n".join(out)


def sentences(text: str) -> list[str]:
    """Text split after each sentence end (。！？；) and at line breaks, for diffing."""
    return [s for s in _SENTENCE.findall(text) if s.strip()]


def _items(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _list_change(key: str, label: str, before: Any, after: Any) -> Change | None:
    a, b = _items(before), _items(after)
    if a == b:
        return None
    lines: list[str] = []
    removed: list[str] = []
    added: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed += a[i1:i2]
        added += b[j1:j2]
        lines += [f"- {item}" for item in a[i1:i2]] + [f"+ {item}" for item in b[j1:j2]]
    kind = "added" if not a else "removed" if not b else "changed"
    return Change(key, label, kind, before, after, removed, added, lines)


def _text_change(key: str, label: str, a: str, b: str, names: tuple[str, str]) -> Change | None:
    if a == b:
        return None
    kind = "added" if not a else "removed" if not b else "changed"
    # One sentence each: show both whole; longer text: a sentence-level unified diff.
    if len(sentences(a)) <= 1 and len(sentences(b)) <= 1:
        lines = ([f"- {a}"] if a else []) + ([f"+ {b}"] if b else [])
    else:
        lines = [
            line.rstrip("\n")
            for line in difflib.unified_diff(
                sentences(a), sentences(b), fromfile=names[0], tofile=names[1], n=1, lineterm=""
            )
        ]
    return Change(key, label, kind, a or None, b or None, lines=lines)


def labels_of(table: KnowledgeTable) -> dict[str, str]:
    """Field key → label, from every template version (the latest label wins)."""
    labels: dict[str, str] = {}
    for template in table.package.templates:
        labels.update({s.key: s.label for s in specs_of(template)})
    return labels


def diff_revisions(
    old: Revision, new: Revision, labels: dict[str, str] | None = None
) -> list[Change]:
    """What changed from ``old`` to ``new``; unchanged parts are left out."""
    labels = labels or {}
    names = (f"r{old.number}", f"r{new.number}")
    found: list[Change | None] = [
        _text_change("title", "标题", old.title, new.title, names),
        _list_change("questions", "相似问法", old.questions, new.questions),
        _list_change("tags", "标签", old.tags, new.tags),
    ]
    keys = list(labels) + sorted((set(old.fields) | set(new.fields)) - set(labels))
    for key in keys:
        a, b = old.fields.get(key), new.fields.get(key)
        label = labels.get(key, key)
        if isinstance(a, list) or isinstance(b, list):
            found.append(_list_change(key, label, a, b))
        else:
            found.append(_text_change(key, label, str(a or ""), str(b or ""), names))
    return [c for c in found if c is not None] + _proposed_changes(old, new)


_META_LABELS = {"audience": "可见范围", "valid_from": "生效时间", "valid_until": "有效期至"}


def _proposed_changes(old: Revision, new: Revision) -> list[Change]:
    """Audience / validity ``new`` would apply when it goes live, against the table now."""
    if not new.proposed or new.proposed == old.proposed:
        return []
    table = new.table
    pending = tables.proposal_of(table, tables.with_proposal(tables.meta_of(table), new.proposed))
    out = []
    for key, after in pending.items():
        before = tables.meta_json(getattr(table, key))
        lines = [f"- {before or '（无）'}", f"+ {after or '（无）'}"]
        out.append(Change(key, _META_LABELS.get(key, key), "changed", before, after, lines=lines))
    return out


def diff(session: Session, code: str, a: int, b: int) -> RevisionDiff:
    """Differences from revision ``a`` to revision ``b`` of table ``code``."""
    table = tables.get_table(session, code)
    found: list[Revision] = []
    for number in (a, b):
        revision = repository.revision(session, table, number)
        if revision is None:
            last = table.latest_revision.number
            raise NotFound(f"Table {code} has no revision {number}; it has revisions 1–{last}.")
        found.append(revision)
    return RevisionDiff(code, a, b, diff_revisions(found[0], found[1], labels_of(table)))
