"""Writing the audit trail; every write path calls :func:`record` in its own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kb.clock import utcnow
from kb.models import AuditEntry


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
