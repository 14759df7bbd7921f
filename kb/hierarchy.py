"""Rules for categories and packages (with their versioned field templates).

A category is a directory and a package a file in content exports (content/README.md), and
package paths (``银行服务/信用卡``) name scopes: so names are checked to be usable as both.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, repository
from kb import changes as marks
from kb.errors import Conflict, NotFound, Problem, ValidationFailed
from kb.models import Category, FieldTemplate, Package, User
from kb.templates import FieldSpec, parse_template, template_to_raw

MAX_NAME_CHARS = 100
# A package file is "<name>.yaml"; file systems allow 255 bytes per name.
MAX_NAME_BYTES = 240
# Control, format (invisible: zero-width, bidi overrides), surrogate, line/paragraph separators.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def name_problems(value: Any, field: str, location: str | None = None) -> list[Problem]:
    """Why ``value`` cannot name a category or package (``field``); empty when it can."""
    if not isinstance(value, str) or not value.strip():
        return [Problem(f"{field} name is empty", field, value, location)]
    name = value.strip()
    reasons = []
    if len(name) > MAX_NAME_CHARS:
        reasons.append(f"is longer than {MAX_NAME_CHARS} characters")
    elif len(name.encode("utf-8")) > MAX_NAME_BYTES:
        reasons.append(f"is longer than {MAX_NAME_BYTES} bytes in UTF-8 (a file name)")
    if name.startswith((".", "_")):
        reasons.append("starts with '.' or '_' (such files are skipped when content is read)")
    if "/" in name or "\\" in name:
        reasons.append("contains '/' or '\\' (it separates category and package)")
    bad = sorted(
        {f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in INVISIBLE_CATEGORIES}
    )
    if bad:
        reasons.append(f"contains control or invisible characters ({', '.join(bad)})")
    if not reasons:
        return []
    return [
        Problem(
            f"{field} name {'; '.join(reasons)}: use 1–{MAX_NAME_CHARS} visible characters, "
            "not starting with '.' or '_', without '/' or '\\'",
            field,
            value,
            location,
        )
    ]


def check_name(value: str, field: str) -> str:
    problems = name_problems(value, field)
    if problems:
        raise ValidationFailed(problems[0].message, problems=problems)
    return value.strip()


def get_category(session: Session, name: str) -> Category:
    found = repository.category_by_name(session, name)
    if found is None:
        known = ", ".join(c.name for c in repository.all_categories(session)) or "none yet"
        raise NotFound(f"No category {name!r}; known categories: {known}.")
    return found


def ensure_category(
    session: Session, name: str, *, description: str | None = None, actor: str = "system"
) -> Category:
    """The category called ``name``, created when missing; description updated when given."""
    name = check_name(name, "category")
    found = repository.category_by_name(session, name)
    if found is None:
        found = Category(name=name, description=description or "")
        session.add(found)
        session.flush()
        audit.record(session, actor=actor, action="create", object_type="category", object_key=name)
    elif description is not None and description != found.description:
        found.description = description
        audit.record(session, actor=actor, action="update", object_type="category", object_key=name)
    return found


def get_package(session: Session, category: str, name: str) -> Package:
    found = repository.package_by_name(session, category, name)
    if found is None:
        cat = get_category(session, category)
        known = ", ".join(p.name for p in cat.packages) or "none yet"
        raise NotFound(f"No package {name!r} in category {category}; known packages: {known}.")
    return found


def package_path(package: Package) -> str:
    return f"{package.category.name}/{package.name}"


def find_package(session: Session, ref: str) -> Package:
    """A package by 'category/package', or by bare name when that name is unique."""
    if "/" in ref:
        category, name = ref.split("/", 1)
        return get_package(session, category, name)
    matches = repository.packages_named(session, ref)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"No package {ref!r}; write it as 'category/package'.")
    paths = ", ".join(package_path(p) for p in matches)
    raise Conflict(f"Package name {ref!r} is ambiguous ({paths}); write it as 'category/package'.")


def specs_of(template: FieldTemplate) -> list[FieldSpec]:
    return parse_template(template.fields)


def template_with(package: Package, raw: list[dict[str, Any]]) -> FieldTemplate | None:
    """The latest version of ``package``'s template whose fields are ``raw``, if any.

    Stored versions are compared as parsed now, so that one stored before a setting existed
    (customer_label) still matches.
    """
    return next(
        (t for t in reversed(package.templates) if template_to_raw(specs_of(t)) == raw), None
    )


def _append_version(package: Package, raw: list[dict[str, Any]], wanted: int | None) -> int:
    """Add ``raw`` as the package's newest template version: number ``wanted`` when that is
    above every stored one (an import keeping the numbers of the KB it came from), else the next."""
    last = package.templates[-1].version if package.templates else 0
    version = max(last + 1, wanted or 0)
    package.templates.append(FieldTemplate(version=version, fields=raw))
    return version


def ensure_package(
    session: Session,
    category: Category,
    name: str,
    *,
    template: Any,
    earlier: Sequence[tuple[int, Any]] = (),
    template_version: int | None = None,
    description: str | None = None,
    review_interval_days: int | None = None,
    owner: str | None = None,
    actor: str = "system",
) -> Package:
    """Create or update a package; a changed template becomes a new template version.

    Args:
        earlier: (number, template) of versions that must precede ``template`` (an import
            recreating the templates its tables were written under). Each one no stored
            version has is added, in order, and ``template`` after them, so that it stays
            the current one.
        template_version: the number ``template`` had where it was exported. A package this
            creates keeps the given numbers (when ascending); an existing one numbers on.
    """
    name = check_name(name, "package")
    specs = parse_template(template)
    if review_interval_days is not None and not 0 <= review_interval_days <= 3650:
        raise ValidationFailed.one(
            "review_interval_days must be 0 (never) to 3650",
            field="review_interval_days",
            value=review_interval_days,
        )
    raw = template_to_raw(specs)
    versions = [(number, template_to_raw(parse_template(t))) for number, t in earlier]
    found = repository.package_by_name(session, category.name, name)
    if found is None:
        found = Package(
            category=category,
            name=name,
            description=description or "",
            review_interval_days=180 if review_interval_days is None else review_interval_days,
            owner=owner or "",
        )
        added = _add_earlier(found, versions, raw, keep_numbers=True)
        _append_version(found, raw, template_version)
        session.add(found)
        session.flush()
        detail: dict[str, Any] = {"template_version": found.template.version}
        if added:
            detail["earlier_template_versions"] = added
        audit.record(
            session,
            actor=actor,
            action="create",
            object_type="package",
            object_key=package_path(found),
            detail=detail,
        )
        return found
    changes: dict[str, Any] = {}
    if description is not None and description != found.description:
        found.description = description
        changes["description"] = description
    if review_interval_days is not None and review_interval_days != found.review_interval_days:
        found.review_interval_days = review_interval_days
        changes["review_interval_days"] = review_interval_days
    if owner is not None and owner != found.owner:
        found.owner = owner
        changes["owner"] = owner
    added = _add_earlier(found, versions, raw, keep_numbers=False)
    if added:
        changes["earlier_template_versions"] = added
    if added or raw != found.template.fields:
        changes["template_version"] = _append_version(found, raw, None)
    if changes:
        session.flush()
        if "review_interval_days" in changes or "template_version" in changes:
            marks.mark_packages(session, found.id)  # its tables' documents carry them
        audit.record(
            session,
            actor=actor,
            action="update",
            object_type="package",
            object_key=package_path(found),
            detail=changes,
        )
    return found


def _add_earlier(
    package: Package,
    versions: list[tuple[int, list[dict[str, Any]]]],
    current: list[dict[str, Any]],
    *,
    keep_numbers: bool,
) -> list[int]:
    """Append each of ``versions`` that the package lacks (and that is not ``current``)."""
    added = []
    for number, raw in versions:
        if raw != current and template_with(package, raw) is None:
            added.append(_append_version(package, raw, number if keep_numbers else None))
    return added


def _listed(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _scoped_users(session: Session, scope: str) -> list[str]:
    return [u.name for u in session.scalars(select(User).order_by(User.name)) if scope in u.scopes]


def delete_package(session: Session, package: Package, *, actor: str) -> None:
    """Delete an empty package (with its template versions); refuse one that holds tables."""
    path = package_path(package)
    codes = sorted(t.code for t in package.tables)
    if codes:
        raise Conflict(
            f"Package {path} still holds {len(codes)} table(s) ({_listed(codes)}); only an empty "
            "package can be deleted. Move its tables to another package first (archived "
            "tables count too: their history stays with them)."
        )
    scoped = _scoped_users(session, path)
    if scoped:
        raise Conflict(
            f"Package {path} is the scope of user(s) {_listed(scoped)}; change their scopes "
            "before deleting it."
        )
    session.delete(package)
    session.flush()
    session.expire(package.category, ["packages"])
    audit.record(session, actor=actor, action="delete", object_type="package", object_key=path)


def delete_category(session: Session, category: Category, *, actor: str) -> None:
    """Delete a category without packages; refuse one that has any."""
    names = [p.name for p in category.packages]
    if names:
        raise Conflict(
            f"Category {category.name} still has {len(names)} package(s) ({_listed(names)}); "
            "only an empty category can be deleted. Delete or empty its packages first."
        )
    scoped = _scoped_users(session, category.name)
    if scoped:
        raise Conflict(
            f"Category {category.name} is the scope of user(s) {_listed(scoped)}; change their "
            "scopes before deleting it."
        )
    name = category.name
    session.delete(category)
    session.flush()
    audit.record(session, actor=actor, action="delete", object_type="category", object_key=name)
