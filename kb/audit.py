"""Writing the audit trail; every write path calls :func:`record` in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kb.clock import utcnow
from kb.models import AuditEntry

KEY_LENGTH: int = getattr(AuditEntry.__table__.c.object_key.type, "length", None) or 100


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_key: str,
    revision: int | None = None,
    comment: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry to the session (flushed with the change it describes)."""
    limit = KEY_LENGTH
    if len(object_key) > limit:
        # A package's key is 'category/package': up to 201 characters for a column of 100,
        # which PostgreSQL refuses. The entry keeps the full key in its detail.
        detail = {**(detail or {}), "key": object_key}
        object_key = object_key[: limit - 1] + "…"
    entry = AuditEntry(
        at=utcnow(),
        actor=actor or "system",
        action=action,
        object_type=object_type,
        object_key=object_key,
        revision=revision,
        comment=comment,
        detail=detail or {},
    )
    session.add(entry)
    return entry
