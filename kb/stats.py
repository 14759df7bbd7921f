"""Counts over the knowledge base, per level and per state."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kb import repository
from kb.models import Category, DomainTerm, KnowledgeTable, Package, Revision, SynonymGroup


def kb_stats(session: Session) -> dict[str, Any]:
    return {
        "categories": repository.count(session, Category),
        "packages": repository.count(session, Package),
        "tables": repository.count(session, KnowledgeTable),
        "live_tables": repository.live_revision_count(session),
        "revisions": repository.count(session, Revision),
        "revision_states": repository.revision_state_counts(session),
        "synonym_groups": repository.count(session, SynonymGroup),
        "domain_terms": repository.count(session, DomainTerm),
    }
