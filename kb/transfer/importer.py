"""Importing content: validate a whole Bundle, then write it in the caller's transaction.

Nothing is written unless everything is valid (:class:`kb.errors.ImportRejected` lists every
problem). Tables are matched by code: new ones are created, changed content becomes a new
revision, changed metadata and links are updated, and identical tables are left alone, so
re-importing the same content writes nothing (no revisions, no audit entries). This module
flushes, never commits: the CLI or API commits.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kb import audit, changes, hierarchy, locks, tables
from kb.dictionary import replace_synonyms, replace_terms
from kb.errors import ImportRejected, Problem
from kb.models import Category, FieldTemplate, KnowledgeTable, Package, RevisionState, User
from kb.permissions import local_operator
from kb.settings import get_settings
from kb.transfer.archive import unzip
from kb.transfer.authorize import raise_refusals, refusals
from kb.transfer.bundle import Bundle, ImportReport
from kb.transfer.limits import ImportLimits
from kb.transfer.plan import Action, PackagePlan, Plan, TablePlan, make_plan, reference_revision
from kb.transfer.spreadsheet import read_csv, read_xlsx
from kb.transfer.yaml_files import read_directory

Progress = Callable[[int, int], None]  # (tables done, tables in all)


def read_path(path: Path, limits: ImportLimits | None = None) -> Bundle:
    """A content directory (or a .zip of one), a .csv or an .xlsx file, read into a Bundle.

    Reading is bounded by ``limits`` (default: from the settings); see kb.transfer.limits.
    """
    limits = limits or ImportLimits.from_settings()
    if path.is_dir():
        return read_directory(path, limits)
    if not path.exists():
        raise ImportRejected(
            f"Nothing to import at {path}: no such file or directory.",
            problems=[Problem("no such file or directory", None, str(path), str(path))],
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, limits)
    if suffix == ".xlsx":
        return read_xlsx(path, limits)
    if suffix == ".zip":
        return _read_zip(path, limits)
    hint = "save it as .xlsx" if suffix in {".xls", ".xlsm", ".et"} else "give a directory"
    raise ImportRejected(
        f"Cannot import {path}: use a content directory (or a .zip of one), a .csv or an .xlsx "
        f"file ({hint}).",
        problems=[
            Problem(f"unsupported file type {suffix or '(none)'}", None, path.name, str(path))
        ],
    )


def _read_zip(path: Path, limits: ImportLimits) -> Bundle:
    """A zipped content directory, unpacked (within the limits) into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="zhiku-zip-") as tmp:
        root = unzip(path, Path(tmp) / "content", limits)
        bundle = read_directory(root, limits)
    # Problems point into the archive ("content.zip/通信业务/改号业务.yaml:3"), not the temp copy.
    inside = f"{root}/"

    def relocate(text: str | None) -> str | None:
        if text is None:
            return None
        return text.replace(inside, f"{path}/").replace(str(root), str(path))

    bundle.problems = [
        dataclasses.replace(p, location=relocate(p.location)) for p in bundle.problems
    ]
    for package in bundle.packages:
        package.location = relocate(package.location)
        package.template_location = relocate(package.template_location)
        for earlier in package.earlier_templates:
            earlier.location = relocate(earlier.location)
        for table in package.tables:
            table.location = relocate(table.location)
            table.locations = {k: relocate(v) or "" for k, v in table.locations.items()}
    for category in bundle.categories:
        category.location = relocate(category.location)
    bundle.synonym_locations = [relocate(x) for x in bundle.synonym_locations]
    bundle.terms_location = relocate(bundle.terms_location)
    bundle.source = str(path)
    return bundle


def check_bundle(
    session: Session,
    bundle: Bundle,
    *,
    zone: ZoneInfo | None = None,
    actor: str | User | None = None,
    draft: bool = False,
) -> list[Problem]:
    """Every problem that would refuse this bundle (and, given an actor, every refusal)."""
    plan, problems = make_plan(session, bundle, zone=zone or get_settings().zone, draft=draft)
    if problems or actor is None:
        return problems
    return refusals(plan, _user(actor))


def _user(actor: str | User) -> User:
    return actor if isinstance(actor, User) else local_operator(actor)


def apply_bundle(
    session: Session,
    bundle: Bundle,
    *,
    actor: str | User,
    draft: bool = False,
    zone: ZoneInfo | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate and authorize, then write everything (flush only).

    Raises ImportRejected listing every problem, or ImportRefused listing every change the
    actor may not make; either way nothing is written.

    Args:
        actor: the user importing, whose rights are checked (kb/transfer/authorize.py); a
            name stands for the local operator (the shell that owns the database), who
            holds every right.
        draft: new and changed content, and changes of audience and validity, become draft
            revisions for review instead of being published; author, source and links
            apply at once either way.
    """
    user = _user(actor)
    # What the plan decides on (a draft to rewrite, a revision in review that refuses the
    # import) must still hold when it writes: lock the tables it names, as every transition does.
    locks.lock_tables(
        session, (d.code for p in bundle.packages for d in p.tables if isinstance(d.code, str))
    )
    plan, problems = make_plan(session, bundle, zone=zone or get_settings().zone, draft=draft)
    if problems:
        raise ImportRejected(
            f"Nothing was imported: {len(problems)} problem{'s' if len(problems) > 1 else ''} in "
            f"{bundle.source or 'the import'}; fix them and import again.",
            problems=problems,
        )
    raise_refusals(plan, user, bundle.source)
    name = user.name
    earlier = changes.pop(session)  # this session's earlier work: not part of this report
    report = ImportReport(categories=plan.category_changes)
    categories = _write_categories(session, plan, name)
    packages = _write_packages(session, plan, categories, name, report)
    if plan.synonyms is not None and plan.terms is not None:
        synonyms_changed = replace_synonyms(session, plan.synonyms, actor=name)
        terms_changed = replace_terms(session, plan.terms, actor=name)
        report.dictionary_changed = synonyms_changed or terms_changed
    written: list[tuple[TablePlan, KnowledgeTable]] = []
    total = len(plan.tables)
    for done, table_plan in enumerate(plan.tables, start=1):
        doc = table_plan.package.doc
        package = packages[(doc.category, doc.name)]
        table = _write_table(session, table_plan, package, draft, name, bundle.source, report)
        written.append((table_plan, table))
        if progress is not None:
            progress(done, total)
    # Links last: they may point at tables created further down the bundle.
    for table_plan, table in written:
        if table_plan.related is not None and tables.set_links(
            session, table, table_plan.related, actor=name
        ):
            _note_updated(report, table.code)
    report.changed_table_ids = changes.pop(session)
    changes.mark(session, *earlier, *report.changed_table_ids)  # for the edge that commits
    return report


def import_path(
    session: Session,
    path: Path,
    *,
    actor: str | User,
    draft: bool = False,
    zone: ZoneInfo | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read ``path`` (directory, .zip, .csv or .xlsx) and apply it; see :func:`apply_bundle`."""
    bundle = read_path(path)
    return apply_bundle(session, bundle, actor=actor, draft=draft, zone=zone, progress=progress)


def _write_categories(session: Session, plan: Plan, actor: str) -> dict[str, Category]:
    found: dict[str, Category] = {}
    for doc in plan.categories:
        category = hierarchy.ensure_category(
            session, doc.name, description=doc.description, actor=actor
        )
        if doc.position is not None and doc.position != category.position:
            category.position = doc.position
            audit.record(
                session,
                actor=actor,
                action="update",
                object_type="category",
                object_key=category.name,
                detail={"position": doc.position},
            )
        found[doc.name] = category
    return found


def _write_packages(
    session: Session,
    plan: Plan,
    categories: dict[str, Category],
    actor: str,
    report: ImportReport,
) -> dict[tuple[str, str], Package]:
    found: dict[tuple[str, str], Package] = {}
    for package_plan in plan.packages:
        doc = package_plan.doc
        found[(doc.category, doc.name)] = _write_package(session, package_plan, categories, actor)
        report.packages += package_plan.changes
    return found


def _write_package(
    session: Session, package_plan: PackagePlan, categories: dict[str, Category], actor: str
) -> Package:
    doc = package_plan.doc
    if package_plan.template is None:
        assert package_plan.existing is not None  # the plan refuses unknown packages
        return package_plan.existing
    category = categories.get(doc.category) or hierarchy.ensure_category(
        session, doc.category, actor=actor
    )
    package = hierarchy.ensure_package(
        session,
        category,
        doc.name,
        template=package_plan.template,
        earlier=[(t.version, t.fields) for t in package_plan.add_earlier],
        template_version=package_plan.versions.current,
        description=doc.description,
        review_interval_days=doc.review_interval_days,
        owner=doc.owner,
        actor=actor,
    )
    if doc.position is not None and doc.position != package.position:
        package.position = doc.position
        audit.record(
            session,
            actor=actor,
            action="update",
            object_type="package",
            object_key=hierarchy.package_path(package),
            detail={"position": doc.position},
        )
    return package


def _write_table(
    session: Session,
    table_plan: TablePlan,
    package: Package,
    draft: bool,
    actor: str,
    source: str,
    report: ImportReport,
) -> KnowledgeTable:
    code = table_plan.doc.code
    existing = table_plan.existing
    state = RevisionState.DRAFT if draft else RevisionState.PUBLISHED
    template = _template(package, table_plan)
    if existing is None:
        # Not live where it was exported: never published here without a review either.
        created = {"archived": RevisionState.ARCHIVED, "draft": RevisionState.DRAFT}
        table = tables.create_table(
            session,
            package,
            code,
            table_plan.content,
            table_plan.meta,
            actor=actor,
            state=created.get(table_plan.doc.state, state),
            template=template,
        )
        report.created.append(code)
        return table
    updated = False
    if table_plan.moves:
        tables.move_table(session, existing, package, actor=actor)
        updated = True
    note = f"import {source}".strip()
    if table_plan.action is Action.NEW_REVISION:
        tables.add_revision(
            session,
            existing,
            table_plan.content,
            actor=actor,
            state=state,
            note=note,
            based_on=reference_revision(existing).number,
            proposed=table_plan.proposal,
            template=template,
        )
    elif table_plan.action is Action.REWRITE_DRAFT:
        _rewrite_draft(
            session,
            existing,
            table_plan,
            template,
            actor=actor,
            note=note,
            publish=not draft,
        )
    assert table_plan.apply_meta is not None  # set for every existing table
    updated = tables.update_meta(session, existing, table_plan.apply_meta, actor=actor) or updated
    if table_plan.action is not Action.NONE:
        report.revised.append(code)
    else:
        (report.updated if updated else report.unchanged).append(code)
    if table_plan.proposal:
        report.proposed.append(code)
    return existing


def _template(package: Package, table_plan: TablePlan) -> FieldTemplate:
    """The stored version of ``package``'s template the table's content is written under."""
    if table_plan.template is None:
        return package.template
    found = hierarchy.template_with(package, table_plan.written_under())
    # _write_package added every earlier version a table that writes content needs.
    assert found is not None or not table_plan.write_content, table_plan.doc.code
    return found or package.template


def _rewrite_draft(
    session: Session,
    table: KnowledgeTable,
    table_plan: TablePlan,
    template: FieldTemplate,
    *,
    actor: str,
    note: str,
    publish: bool,
) -> None:
    """The open draft takes the imported content and proposal (its author's or an admin's)."""
    draft = table.latest_revision
    changed = []
    if table_plan.write_content:
        content = table_plan.content
        draft.title, draft.questions = content.title, list(content.questions)
        draft.tags, draft.fields = list(content.tags), dict(content.fields)
        draft.template_version = template.version
        changed.append("content")
    if table_plan.proposal != (draft.proposed or {}):
        draft.proposed = table_plan.proposal or None
        changed.append("proposed")
    tables.note_contributor(draft, actor)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="edit",
        object_type="table",
        object_key=table.code,
        revision=draft.number,
        comment=note,
        detail={"changed": changed},
    )
    if publish:
        tables.make_live(session, draft, actor=actor)


def _note_updated(report: ImportReport, code: str) -> None:
    if code in report.unchanged:
        report.unchanged.remove(code)
        report.updated.append(code)
