"""An import asks for the same rights as the same changes made one by one (kb/permissions.py).

The whole plan is checked against the actor before anything is written, and every refusal
is reported with the file and line or row it comes from:

- importing at all needs IMPORT; publishing without review (not a draft import) needs PUBLISH;
- creating or changing a category, a package (its settings or template, or adding an earlier
  template version a table of the file was written under) needs MANAGE_HIERARCHY; replacing the synonyms or domain terms needs MANAGE_DICTIONARY — items the
  import leaves as they are need nothing;
- a table that the import changes needs DRAFT in its package (a scoped editor stays inside
  their scope); moving it to another package needs PUBLISH in both (kb.permissions.check_move:
  a move is not reviewed); its open draft may be rewritten only by
  its author or an admin, as in :func:`kb.workflow.edit`.
"""

from __future__ import annotations

from kb.errors import ImportRefused, PermissionDenied, Problem
from kb.hierarchy import package_path
from kb.models import Package, Role, User
from kb.permissions import Action, check, check_move
from kb.transfer.plan import Action as TableAction
from kb.transfer.plan import PackagePlan, Plan, TablePlan, place

_PACKAGE_SETTINGS = ("description", "review_interval_days", "owner", "position")


def refusals(plan: Plan, user: User) -> list[Problem]:
    """Every part of ``plan`` that ``user`` may not carry out; empty when they may do it all."""
    whole = _denied(user, Action.IMPORT) or (None if plan.draft else _denied(user, Action.PUBLISH))
    if whole is not None:
        hint = "" if plan.draft else "; import as drafts for review instead (--draft, draft=true)"
        return [Problem(f"{whole}{hint}", None, None, None)]
    problems: list[Problem] = []
    for category in plan.changed_categories:
        denied = _denied(user, Action.MANAGE_HIERARCHY)
        if denied is not None:
            problems.append(
                Problem(
                    f"creating or changing category {category.name} (its description or "
                    f"position): {denied}",
                    "category",
                    category.name,
                    category.location,
                )
            )
    for package in plan.packages:
        if package.changes:
            denied = _denied(user, Action.MANAGE_HIERARCHY)
            if denied is not None:
                problems.append(_package_refusal(package, denied))
    if plan.dictionary_changes:
        denied = _denied(user, Action.MANAGE_DICTIONARY)
        if denied is not None:
            problems.append(
                Problem(
                    f"replacing the synonyms and domain terms: {denied}",
                    "dictionary",
                    None,
                    plan.dictionary_location,
                )
            )
    for table in plan.tables:
        problems += _table_refusals(table, user)
    return sorted(problems, key=place)


def raise_refusals(plan: Plan, user: User, source: str) -> None:
    """Raise ImportRefused listing every refusal; return when the actor may do it all."""
    problems = refusals(plan, user)
    if problems:
        raise ImportRefused(
            f"Nothing was imported: {user.name} ({user.role.value}) may not make "
            f"{len(problems)} of the change{'s' if len(problems) > 1 else ''} in "
            f"{source or 'the import'}; leave them out, or ask someone who may.",
            problems=problems,
        )


def _denied(user: User, action: Action, package: Package | None = None) -> str | None:
    try:
        check(user, action, package)
    except PermissionDenied as err:
        return err.message
    return None


def _package_refusal(package: PackagePlan, denied: str) -> Problem:
    doc = package.doc
    if package.existing is None:
        what = f"creating package {doc.category}/{doc.name}"
    else:
        existing = package.existing
        changed = [
            name
            for name in _PACKAGE_SETTINGS
            if getattr(doc, name) is not None and getattr(doc, name) != getattr(existing, name)
        ]
        if package.template is not None and package.template != existing.template.fields:
            changed.append("template")
        if package.add_earlier:
            numbers = ", ".join(str(t.version) for t in package.add_earlier)
            changed.append(f"earlier template versions {numbers} of the file, for its tables")
        what = f"changing package {doc.category}/{doc.name} ({', '.join(changed)})"
    return Problem(f"{what}: {denied}", "package", f"{doc.category}/{doc.name}", doc.location)


def _table_refusals(table: TablePlan, user: User) -> list[Problem]:
    if not table.writes():
        return []
    code = table.doc.code
    location = table.doc.location
    problems = []
    # A package the import creates is checked as it will be (its probe): scopes name paths.
    denied = _denied(user, Action.DRAFT, table.package.existing or table.package.probe)
    if denied is not None:
        problems.append(Problem(f"table {code}: {denied}", "package", _path(table), location))
    existing = table.existing
    if existing is not None and table.moves:
        target = table.package.existing or table.package.probe
        try:
            check_move(user, existing.package, target)
        except PermissionDenied as err:
            problems.append(
                Problem(
                    f"moving table {code} out of {package_path(existing.package)}: {err.message}",
                    "package",
                    package_path(existing.package),
                    location,
                )
            )
    if existing is not None and table.action is TableAction.REWRITE_DRAFT:
        draft = existing.latest_revision
        if draft.author != user.name and user.role is not Role.ADMIN:
            problems.append(
                Problem(
                    f"table {code} has an open draft (revision {draft.number}) by "
                    f"{draft.author}; only its author or an admin may change it — ask them to "
                    "submit it, or leave this table out",
                    "code",
                    code,
                    location,
                )
            )
    return problems


def _path(table: TablePlan) -> str:
    return f"{table.package.doc.category}/{table.package.doc.name}"
