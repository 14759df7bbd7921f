"""Renaming a category or a package (MANAGE_HIERARCHY, audited).

A name is also a directory or file name in exports and part of users' scopes
(``银行服务/信用卡``), so a rename carries the scopes along (a scoped editor keeps exactly the
packages they had, and a new category that takes the old name does not inherit them) and
re-indexes the tables whose path changed. It is the way out for a name that today's rules
refuse (created before them), which export cannot write.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import audit, changes, hierarchy, locks, repository
from kb.errors import Conflict
from kb.models import Category, KnowledgeTable, Package, User
from kb.permissions import Action, check


def _rescope(session: Session, old: str, new: str, *, whole: bool) -> list[str]:
    """Rewrite scopes naming ``old`` (a category, or a 'category/package' path) to ``new``."""
    renamed: list[str] = []
    for user in session.scalars(select(User).order_by(User.id)):
        scopes = list(user.scopes or [])
        updated = []
        for scope in scopes:
            if scope == old:
                scope = new
            elif whole and scope.startswith(f"{old}/"):
                scope = f"{new}/{scope[len(old) + 1 :]}"
            updated.append(scope)
        if updated != scopes:
            user.scopes = updated
            renamed.append(user.name)
    return renamed


def _mark_tables(session: Session, packages: list[Package]) -> None:
    ids = session.scalars(
        select(KnowledgeTable.id).where(KnowledgeTable.package_id.in_([p.id for p in packages]))
    ).all()
    changes.mark(session, *ids)


def rename_category(session: Session, user: User, name: str, new_name: str) -> Category:
    """Give category ``name`` the name ``new_name``; scopes naming it follow."""
    check(user, Action.MANAGE_HIERARCHY)
    # Locked first: two renames at once must not both read the old name (the second would
    # overwrite the first, and the scopes follow only one of them).
    category = locks.lock_category(session, name) or hierarchy.get_category(session, name)
    new = hierarchy.check_name(new_name, "category")
    if new == category.name:
        return category
    if repository.category_by_name(session, new) is not None:
        raise Conflict(f"Category {new!r} already exists; choose another name.")
    old = category.name
    category.name = new
    users = _rescope(session, old, new, whole=True)
    session.flush()
    _mark_tables(session, list(category.packages))
    audit.record(
        session,
        actor=user.name,
        action="rename",
        object_type="category",
        object_key=new,
        detail={"from": old, "to": new, "scopes_of": users},
    )
    return category


def rename_package(session: Session, user: User, ref: str, new_name: str) -> Package:
    """Give package ``ref`` ('category/package') the name ``new_name`` in its category."""
    check(user, Action.MANAGE_HIERARCHY)
    found = hierarchy.find_package(session, ref)
    package = locks.lock_package(session, found.category.name, found.name)
    if package is None:  # renamed (or its category) by a rename that committed first
        package = hierarchy.find_package(session, ref)
    new = hierarchy.check_name(new_name, "package")
    if new == package.name:
        return package
    category = package.category.name
    if repository.package_by_name(session, category, new) is not None:
        raise Conflict(f"Package {category}/{new} already exists; choose another name.")
    old = hierarchy.package_path(package)
    package.name = new
    users = _rescope(session, old, f"{category}/{new}", whole=False)
    session.flush()
    _mark_tables(session, [package])
    audit.record(
        session,
        actor=user.name,
        action="rename",
        object_type="package",
        object_key=f"{category}/{new}",
        detail={"from": old, "to": f"{category}/{new}", "scopes_of": users},
    )
    return package
