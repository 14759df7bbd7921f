"""The synonym dictionary (同义词) and the domain-term list (领域词) that feed the analyzer."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kb import audit, changes
from kb.errors import Problem, ValidationFailed
from kb.models import DomainTerm, SynonymGroup
from kb.text import term_form


def check_synonyms(
    groups: object, location: str | None = None
) -> tuple[list[list[str]], list[Problem]]:
    """Normalized groups (each ≥ 2 distinct terms; a term in one group only) and problems."""
    if not isinstance(groups, list):
        return [], [Problem("synonyms must be a list of term lists", "synonyms", groups, location)]
    problems: list[Problem] = []
    clean: list[list[str]] = []
    owner: dict[str, int] = {}
    for i, group in enumerate(groups):
        where = f"synonyms[{i}]"
        if not isinstance(group, list) or not all(isinstance(t, str) for t in group):
            problems.append(Problem("must be a list of terms", where, group, location))
            continue
        # Compared as the analyzer reads them (NFKC, Simplified, case-folded, one space in a
        # phrase): 改號 is 改号, and a term two groups claim in either form left the earlier
        # group matching nothing.
        by_form: dict[str, str] = {}
        for term in (t.strip() for t in group):
            if term:
                by_form.setdefault(term_form(term), term)
        terms = list(by_form.values())
        if len(by_form) < 2:
            problems.append(
                Problem(
                    "a synonym group needs at least two different terms", where, group, location
                )
            )
            continue
        for form, term in by_form.items():
            if form in owner:
                problems.append(
                    Problem(
                        f"term {term!r} is already in synonyms[{owner[form]}]"
                        + ("" if form == term else f" (as {form!r})"),
                        where,
                        term,
                        location,
                    )
                )
            owner[form] = i
        clean.append(terms)
    return clean, problems


def check_terms(terms: object, location: str | None = None) -> tuple[list[str], list[Problem]]:
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        return [], [Problem("terms must be a list of strings", "terms", terms, location)]
    clean = sorted({t.strip() for t in terms if t.strip()})
    bad = [t for t in clean if len(t) > 100 or any(c.isspace() for c in t)]
    return clean, [
        Problem("a term is one word: no spaces, at most 100 characters", "terms", t, location)
        for t in bad
    ]


def replace_synonyms(session: Session, groups: list[list[str]], *, actor: str) -> bool:
    """Replace the whole synonym dictionary; returns whether it changed."""
    clean, problems = check_synonyms(groups)
    if problems:
        raise ValidationFailed("The synonym dictionary is not valid.", problems=problems)
    current = [
        list(g.terms) for g in session.scalars(select(SynonymGroup).order_by(SynonymGroup.id))
    ]
    if current == clean:
        return False
    _write_all(
        session,
        SynonymGroup,
        [SynonymGroup(terms=g) for g in clean],
        actor=actor,
        object_type="synonyms",
        detail={"groups": len(clean)},
    )
    return True


def replace_terms(session: Session, terms: list[str], *, actor: str) -> bool:
    """Replace the domain-term list; returns whether it changed."""
    clean, problems = check_terms(terms)
    if problems:
        raise ValidationFailed("The domain-term list is not valid.", problems=problems)
    current = sorted(session.scalars(select(DomainTerm.term)))
    if current == clean:
        return False
    _write_all(
        session,
        DomainTerm,
        [DomainTerm(term=t) for t in clean],
        actor=actor,
        object_type="terms",
        detail={"terms": len(clean)},
    )
    return True


def _write_all(
    session: Session,
    model: type[SynonymGroup] | type[DomainTerm],
    rows: list[SynonymGroup] | list[DomainTerm],
    *,
    actor: str,
    object_type: str,
    detail: dict[str, int],
) -> None:
    """Every row of ``model`` replaced by ``rows``, the dictionary marked changed and audited."""
    session.execute(delete(model))
    session.add_all(rows)
    session.flush()
    changes.mark_dictionary(session)
    audit.record(
        session,
        actor=actor,
        action="replace",
        object_type=object_type,
        object_key="*",
        detail=detail,
    )
