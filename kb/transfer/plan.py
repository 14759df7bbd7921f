"""Validating a whole Bundle against the database before anything is written.

:func:`make_plan` returns every problem it finds and, when there are none, a plan the importer
can carry out without further checks failing: content normalized against the template each
package will have after the import, metadata parsed, related codes resolved — and what each
item would change (created, revised, re-templated, replaced), so that the whole plan can be
checked against the actor's rights before anything is written (:mod:`kb.transfer.authorize`).

What an import does to an existing table (``TablePlan.action``): nothing to its revisions,
a new revision, or a rewrite of its open draft. A draft import puts changes of audience and
validity on that draft (``proposal``) for review, like content; a published import (the
publish right) applies them at once. An import never goes around a revision in review: that
would strand it (neither approvable nor withdrawable once it is no longer the latest), so
such a table is refused, naming the revision.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from kb import repository
from kb.content_limits import MAX_RELATED
from kb.dictionary import check_synonyms, check_terms
from kb.errors import Problem, ValidationFailed
from kb.hierarchy import name_problems, specs_of
from kb.models import (
    Audience,
    Category,
    FieldTemplate,
    KnowledgeTable,
    Package,
    Revision,
    RevisionState,
)
from kb.tables import (
    TableContent,
    TableMeta,
    check_code,
    check_content,
    check_meta,
    content_of,
    meta_of,
    proposal_of,
    with_proposal,
    within_template,
)
from kb.templates import FieldSpec, parse_template, template_to_raw
from kb.text import printable, strings_in, text_problem
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc
from kb.transfer.dates import parse_when
from kb.transfer.versions import (
    Versions,
    read_versions,
    stored_fields,
    table_template,
    to_add,
    written_under,
)

_LOOKUP_CHUNK = 500  # stay far below SQLite's bound-parameter limit


@dataclass
class PackagePlan:
    doc: PackageDoc
    existing: Package | None
    probe: Package  # the package as it will be (transient when new or re-templated)
    template: list[dict[str, Any]] | None  # None: keep the stored template (spreadsheet rows)
    changes: bool  # created, or some setting differs
    versions: Versions = field(default_factory=Versions)  # the versions the file states
    # Earlier template versions the import adds, because a table it writes was written under
    # one the package lacks (kb.transfer.versions).
    add_earlier: list[FieldTemplate] = field(default_factory=list)


class Action(StrEnum):
    """What an import does to a table's revisions."""

    CREATE = "create"  # a new table with its first revision
    NONE = "none"  # content (and, in a draft import, proposed metadata) unchanged
    NEW_REVISION = "new_revision"
    REWRITE_DRAFT = "rewrite_draft"  # the open draft takes the imported content / proposal


@dataclass
class TablePlan:
    doc: TableDoc
    package: PackagePlan
    existing: KnowledgeTable | None
    content: TableContent
    meta: TableMeta  # everything the file states
    related: list[str] | None  # None: keep the stored links
    action: Action = Action.CREATE
    write_content: bool = True  # the revision written or rewritten takes ``content``
    proposal: dict[str, Any] = field(default_factory=dict)  # governed changes, for review
    apply_meta: TableMeta | None = None  # what applies to the table at once
    links_changed: bool = False
    moves: bool = False
    # The earlier template version (the file's, transient) ``content`` was written under;
    # None: the package's template.
    template: FieldTemplate | None = None
    # The file states versions: the template a revision is read through counts as content.
    versioned: bool = False

    def written_under(self) -> list[dict[str, Any]]:
        """The fields of the template version ``content`` is read through after the import."""
        if self.template is not None:
            return list(self.template.fields)
        return list(self.package.template or self.package.probe.template.fields)

    def writes(self) -> bool:
        """Whether importing this table changes anything."""
        existing = self.existing
        return (
            existing is None
            or self.action is not Action.NONE
            or self.links_changed
            or self.moves
            or (self.apply_meta is not None and self.apply_meta != meta_of(existing))
        )


@dataclass
class Plan:
    categories: list[CategoryDoc] = field(default_factory=list)
    category_changes: int = 0
    changed_categories: list[CategoryDoc] = field(default_factory=list)
    packages: list[PackagePlan] = field(default_factory=list)
    synonyms: list[list[str]] | None = None  # None: keep the stored dictionary
    terms: list[str] | None = None
    dictionary_changes: bool = False  # the stored synonyms or terms would be replaced
    dictionary_location: str | None = None
    tables: list[TablePlan] = field(default_factory=list)
    draft: bool = False


def make_plan(
    session: Session, bundle: Bundle, *, zone: ZoneInfo, draft: bool = False
) -> tuple[Plan, list[Problem]]:
    plan = Plan(draft=draft)
    problems = list(bundle.problems)
    problems += _unstorable_text(bundle)
    problems += _categories(session, bundle, plan)
    problems += _dictionary(session, bundle, plan)
    problems += _packages(session, bundle, plan)
    problems += _tables(session, bundle, plan, zone)
    if not problems:
        _earlier_to_add(plan)
    return plan, sorted(problems, key=place)


_PLACE_RE = re.compile(r"^(?P<file>.*?)(?::(?P<line>\d+)| row (?P<row>\d+))?$")


def place(problem: Problem) -> tuple[str, int]:
    """Order problems by file, then line or row, as a person fixes them."""
    match = _PLACE_RE.match(problem.location or "")
    if match is None:
        return (problem.location or "", 0)
    number = match.group("line") or match.group("row") or "0"
    return (match.group("file"), int(number))


def _unstorable_text(bundle: Bundle) -> list[Problem]:
    """Every value of the files that is no storable text (NUL, a lone surrogate: kb.text),
    named and located as the API names the same text in a request."""
    problems: list[Problem] = []

    def check(values: dict[str, Any], location: str | None, table: TableDoc | None = None) -> None:
        for name, text in strings_in(values):
            message = text_problem(text)
            if message is not None:
                where = location if table is None else table.where(name.split(".")[0])
                where = table.locations.get(name, where) if table is not None else where
                problems.append(Problem(message, name, printable(text), where))

    for category in bundle.categories:
        check({"name": category.name, "description": category.description}, category.location)
    for package in bundle.packages:
        given = {"category": package.category, "name": package.name}
        given |= {"description": package.description, "owner": package.owner}
        check(given, package.location)
        check({"template": package.template}, package.template_location or package.location)
        for earlier in package.earlier_templates:
            check({"template": earlier.template}, earlier.location)
        for table in package.tables:
            check(table.values(), table.location, table)
    for index, group in enumerate(bundle.synonyms):
        located = index < len(bundle.synonym_locations) and bundle.synonym_locations[index]
        check({"synonyms": group}, located or bundle.terms_location)
    check({"terms": bundle.terms}, bundle.terms_location)
    return problems


def _check_name(value: Any, what: str, location: str | None) -> list[Problem]:
    return name_problems(value, what, location)


def _categories(session: Session, bundle: Bundle, plan: Plan) -> list[Problem]:
    problems: list[Problem] = []
    for doc in bundle.categories:
        problems += _check_name(doc.name, "category", doc.location)
        plan.categories.append(doc)
        found = repository.category_by_name(session, doc.name)
        if (
            found is None
            or (doc.description is not None and doc.description != found.description)
            or (doc.position is not None and doc.position != found.position)
        ):
            plan.category_changes += 1
            plan.changed_categories.append(doc)
    return problems


def _dictionary(session: Session, bundle: Bundle, plan: Plan) -> list[Problem]:
    if not bundle.dictionary_given:
        return []
    groups, problems = check_synonyms(bundle.synonyms)
    located = []
    for problem in problems:
        index = _index_of(problem.field)
        where = (
            bundle.synonym_locations[index]
            if index is not None and index < len(bundle.synonym_locations)
            else bundle.terms_location
        )
        located.append(dataclasses.replace(problem, location=where))
    terms, term_problems = check_terms(bundle.terms, location=bundle.terms_location)
    plan.synonyms, plan.terms = groups, terms
    stored_terms = sorted(repository.domain_terms(session))
    plan.dictionary_changes = groups != repository.synonym_groups(session) or terms != stored_terms
    plan.dictionary_location = next(
        (where for where in bundle.synonym_locations if where), bundle.terms_location
    )
    return located + term_problems


def _index_of(field_name: str | None) -> int | None:
    # "synonyms[3]" → 3
    if field_name and field_name.endswith("]") and "[" in field_name:
        try:
            return int(field_name[field_name.index("[") + 1 : -1])
        except ValueError:
            return None
    return None


def _packages(session: Session, bundle: Bundle, plan: Plan) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[tuple[str, str], PackageDoc] = {}
    for doc in bundle.packages:
        key = (doc.category, doc.name)
        if key in seen and doc.template is not None:
            problems.append(
                Problem(
                    f"package {doc.category}/{doc.name} is defined twice (also at "
                    f"{seen[key].location}); keep one file",
                    "package",
                    doc.name,
                    doc.location,
                )
            )
            continue
        seen[key] = doc
        existing = repository.package_by_name(session, doc.category, doc.name)
        if doc.template is None:
            problems += _known_package(session, doc, existing)
            if existing is not None:
                plan.packages.append(PackagePlan(doc, existing, existing, None, False))
            continue
        package_plan, found = _package_with_template(doc, existing)
        problems += found
        if package_plan is not None:
            plan.packages.append(package_plan)
    return problems


def _known_package(session: Session, doc: PackageDoc, existing: Package | None) -> list[Problem]:
    """Spreadsheet rows name a package that must already exist; one problem per row if not."""
    if existing is not None:
        return []
    if not doc.category or not doc.name:
        missing = "category" if not doc.category else "package"
        return [
            Problem(
                f"{missing} is empty; every row names its category and package",
                missing,
                "",
                t.location,
            )
            for t in doc.tables
        ]
    category = repository.category_by_name(session, doc.category)
    if category is None:
        known = ", ".join(c.name for c in repository.all_categories(session)) or "none yet"
        reason = f"unknown category {doc.category!r} (known: {known})"
    else:
        known = ", ".join(p.name for p in category.packages) or "none yet"
        reason = f"unknown package {doc.name!r} in category {doc.category} (known: {known})"
    return [
        Problem(
            f"{reason}; create the package first with a YAML import (its template) or in the "
            "admin desk",
            "package",
            f"{doc.category}/{doc.name}",
            t.location,
        )
        for t in doc.tables
    ]


def _package_with_template(
    doc: PackageDoc, existing: Package | None
) -> tuple[PackagePlan | None, list[Problem]]:
    problems = _check_name(doc.name, "package", doc.location)
    days = doc.review_interval_days
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650
    ):
        problems.append(
            Problem(
                "review_interval_days must be a whole number from 0 (never) to 3650",
                "review_interval_days",
                days,
                doc.location,
            )
        )
    if doc.owner is not None and len(str(doc.owner)) > 100:
        problems.append(
            Problem("owner must be at most 100 characters", "owner", doc.owner, doc.location)
        )
    versions, found = read_versions(doc)
    problems += found
    try:
        specs = parse_template(doc.template, location=doc.template_location or doc.location)
    except ValidationFailed as err:
        return None, problems + err.problems
    raw = template_to_raw(specs)
    if existing is None:
        version, changed = versions.current or 1, True  # as ensure_package will number it
    else:
        same = raw == existing.template.fields
        version = existing.template.version + (0 if same else 1)
        changed = not same or any(
            value is not None and value != getattr(existing, name)
            for name, value in (
                ("description", doc.description),
                ("review_interval_days", doc.review_interval_days),
                ("owner", doc.owner),
                ("position", doc.position),
            )
        )
    # check_content reads the template through the package: give it one that is not in the
    # session, so that nothing is written while checking.
    probe = Package(name=doc.name, category=Category(name=doc.category))
    probe.templates.append(FieldTemplate(version=version, fields=raw))
    return PackagePlan(doc, existing, probe, raw, changed, versions), problems


def _tables(session: Session, bundle: Bundle, plan: Plan, zone: ZoneInfo) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, TableDoc] = {}
    for package in bundle.packages:
        for doc in package.tables:
            if not isinstance(doc.code, str):
                continue
            if doc.code in first_seen:
                problems.append(
                    Problem(
                        f"code {doc.code} is used twice (also at {first_seen[doc.code].location}); "
                        "codes are unique across the knowledge base",
                        "code",
                        doc.code,
                        doc.where("code"),
                    )
                )
            else:
                first_seen[doc.code] = doc
    stored = _tables_by_codes(session, list(first_seen))
    related_codes = {
        code
        for package in bundle.packages
        for doc in package.tables
        if isinstance(doc.related, list)
        for code in doc.related
        if isinstance(code, str)
    }
    stored_related = set(_tables_by_codes(session, sorted(related_codes - set(first_seen))))
    known = set(first_seen) | stored_related | bundle.unread_codes
    plans = {(p.doc.category, p.doc.name): p for p in plan.packages}
    for package in bundle.packages:
        package_plan = plans.get((package.category, package.name))
        for doc in package.tables:
            if package_plan is None or first_seen.get(doc.code) is not doc:
                problems += check_code(doc.code, doc.where("code"))
                continue  # reported with the package, or a duplicate code
            table_plan, found = _table(
                doc, package_plan, stored.get(doc.code), known, zone, draft=plan.draft
            )
            problems += found
            if table_plan is not None:
                plan.tables.append(table_plan)
    return problems


def _tables_by_codes(session: Session, codes: Sequence[str]) -> dict[str, KnowledgeTable]:
    found: dict[str, KnowledgeTable] = {}
    for start in range(0, len(codes), _LOOKUP_CHUNK):
        found.update(repository.tables_by_codes(session, codes[start : start + _LOOKUP_CHUNK]))
    return found


def reference_revision(table: KnowledgeTable) -> Revision:
    """The revision an import compares against and export writes: the live one, else the latest."""
    return table.live_revision or table.latest_revision


def _table(
    doc: TableDoc,
    package: PackagePlan,
    existing: KnowledgeTable | None,
    known: set[str],
    zone: ZoneInfo,
    *,
    draft: bool,
) -> tuple[TablePlan | None, list[Problem]]:
    problems = check_code(doc.code, doc.where("code"))
    template, found = table_template(doc, package.versions)
    problems += found
    base = content_of(reference_revision(existing)) if existing is not None else None
    content = TableContent(
        title=doc.title if doc.gives("title") or base is None else base.title,
        questions=doc.questions if doc.gives("questions") or base is None else base.questions,
        tags=doc.tags if doc.gives("tags") or base is None else base.tags,
        fields=_fields(doc, package, base),
    )
    content, found = check_content(package.probe, content, doc.location, template=template)
    problems += [_relocate(p, doc) for p in found]
    meta, found = _meta(doc, existing, zone)
    problems += found
    related, found = _related(doc, known)
    problems += found
    if existing is not None and moves(existing, package):
        problems += _movable(existing, package, doc)
    if problems:
        return None, problems
    table_plan = TablePlan(
        doc,
        package,
        existing,
        content,
        meta,
        related,
        apply_meta=meta,
        template=template,
        versioned=package.versions.current is not None or doc.template_version is not None,
    )
    if existing is not None:
        problems += _changes(table_plan, existing, draft=draft)
    return (None, problems) if problems else (table_plan, [])


def same_content(a: TableContent, b: TableContent) -> bool:
    return (a.title, a.questions, a.tags, a.fields) == (b.title, b.questions, b.tags, b.fields)


def _changes(plan: TablePlan, existing: KnowledgeTable, *, draft: bool) -> list[Problem]:
    """Decide what importing ``plan`` does to ``existing``; a revision in review refuses it."""
    reference = reference_revision(existing)
    latest = existing.latest_revision
    plan.moves = moves(existing, plan.package)
    new_content = not _reads_same(plan, reference)
    plan.links_changed = plan.related is not None and plan.related != [
        t.code for t in existing.related
    ]
    if draft:
        # Audience and validity wait for review on the draft; re-verification is a reviewer's
        # act (approval sets it), so a file's last_verified does not apply either.
        governed = proposal_of(existing, plan.meta)
        plan.apply_meta = replace(
            plan.meta,
            audience=existing.audience,
            valid_from=existing.valid_from,
            valid_until=existing.valid_until,
            last_verified_at=existing.last_verified_at,
        )
        pending = latest.proposed if latest.state is RevisionState.DRAFT else None
        wanted = with_proposal(with_proposal(meta_of(existing), pending), governed)
        problems = check_meta(wanted, plan.doc.location)  # what approving it would apply
        if problems:
            return problems
        if latest.state is RevisionState.DRAFT:
            plan.write_content = new_content and not _reads_same(plan, latest)
            plan.proposal = proposal_of(existing, wanted)
            needed = plan.write_content or plan.proposal != (latest.proposed or {})
        else:
            plan.write_content = new_content
            plan.proposal = governed
            needed = new_content or bool(governed)
    else:
        plan.write_content = needed = new_content
    if not needed:
        plan.action = Action.NONE
    elif latest.state is RevisionState.DRAFT:
        plan.action = Action.REWRITE_DRAFT
    elif latest.state is RevisionState.IN_REVIEW:
        return [_in_review(plan.doc, latest)]
    else:
        plan.action = Action.NEW_REVISION
    return []


def _reads_same(plan: TablePlan, revision: Revision) -> bool:
    """Whether ``revision`` holds ``plan``'s content, read through the same template (when the
    file states versions: a field made internal since is a change, as its content would be)."""
    held = content_of(revision)
    if plan.doc.present is not None:
        # A spreadsheet row cannot state a field the template dropped: its absence is no change.
        held = within_template(held, plan.package.probe.template)
    if not same_content(plan.content, held):
        return False
    if not plan.versioned:
        return True
    # A table that moves is read through its new package's template from then on.
    stored = plan.package.template if plan.moves else stored_fields(written_under(revision))
    return stored == plan.written_under()


def _earlier_to_add(plan: Plan) -> None:
    """Per package, the earlier template versions that the tables it writes need and it lacks."""
    needed: dict[int, list[FieldTemplate]] = {}
    for table in plan.tables:
        if table.template is not None and table.action is not Action.NONE and table.write_content:
            needed.setdefault(id(table.package), []).append(table.template)
    for package in plan.packages:
        if package.template is None:
            continue  # spreadsheet rows: no versions
        package.add_earlier = to_add(
            package.existing, package.template, needed.get(id(package), [])
        )
        package.changes = package.changes or bool(package.add_earlier)


def _in_review(doc: TableDoc, revision: Revision) -> Problem:
    when = revision.submitted_at.date().isoformat() if revision.submitted_at else "earlier"
    state = "approved and scheduled" if revision.reviewed_at is not None else "in review"
    return Problem(
        f"table {doc.code} has revision {revision.number} {state} (submitted by "
        f"{revision.author} on {when}); an import would strand it — have it approved or "
        "rejected, or withdraw it, then import again",
        "code",
        doc.code,
        doc.location,
    )


def _fields(doc: TableDoc, package: PackagePlan, base: TableContent | None) -> Any:
    if doc.present is None or not isinstance(doc.fields, dict):
        return doc.fields
    # Spreadsheet columns: a column headed by a field key or label sets that field (an empty
    # cell clears it); the fields without a column keep their stored values. A row is read
    # through the current template, as an edit at the desk is (kb.tables.current_content): a
    # field the template dropped cannot have a column, and is not kept.
    specs = specs_of(package.probe.template)
    by_name: dict[str, FieldSpec] = {s.key: s for s in specs} | {s.label: s for s in specs}
    merged = dict(within_template(base, package.probe.template).fields) if base else {}
    for header, value in doc.fields.items():
        spec = by_name.get(header)
        if spec is not None:
            if value in (None, ""):
                merged.pop(spec.key, None)
            else:
                merged[spec.key] = value
        elif value not in (None, ""):
            merged[header] = value  # check_content reports it as not in the template
    return merged


def _relocate(problem: Problem, doc: TableDoc) -> Problem:
    name = problem.field or ""
    attribute = name if name in {"title", "questions", "tags"} else f"fields.{name}"
    return dataclasses.replace(problem, location=doc.where(attribute))


def _meta(
    doc: TableDoc, existing: KnowledgeTable | None, zone: ZoneInfo
) -> tuple[TableMeta, list[Problem]]:
    problems: list[Problem] = []
    meta = (
        TableMeta(
            audience=existing.audience,
            author=existing.author,
            source=existing.source,
            valid_from=existing.valid_from,
            valid_until=existing.valid_until,
            last_verified_at=existing.last_verified_at,
        )
        if existing is not None
        else TableMeta()
    )
    if doc.gives("audience"):
        try:
            meta.audience = Audience(doc.audience or "public")
        except ValueError:
            problems.append(
                Problem(
                    "audience must be public or internal (agents only)",
                    "audience",
                    doc.audience,
                    doc.where("audience"),
                )
            )
    for name, limit in (("author", 100), ("source", 200)):
        if not doc.gives(name):
            continue
        value = getattr(doc, name)
        text = "" if value is None else str(value).strip()
        if len(text) > limit:
            problems.append(
                Problem(f"{name} must be at most {limit} characters", name, value, doc.where(name))
            )
        setattr(meta, name, text)
    for name, attribute in (
        ("valid_from", "valid_from"),
        ("valid_until", "valid_until"),
        ("last_verified", "last_verified_at"),
    ):
        if not doc.gives(name):
            continue
        when, found = parse_when(
            getattr(doc, name),
            zone=zone,
            end_of_day=name == "valid_until",
            field=name,
            location=doc.where(name),
        )
        problems += found
        setattr(meta, attribute, when)
    if not problems:
        problems += check_meta(meta, doc.where("valid_until"))
    return meta, problems


def _related(doc: TableDoc, known: set[str]) -> tuple[list[str] | None, list[Problem]]:
    if not doc.gives("related"):
        return None, []
    raw = doc.related or []
    where = doc.where("related")
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        return None, [Problem("related must be a list of table codes", "related", raw, where)]
    codes = list(dict.fromkeys(c.strip() for c in raw if c.strip()))
    problems = []
    if len(codes) > MAX_RELATED:
        problems.append(
            Problem(
                f"at most {MAX_RELATED} related tables per table, got {len(codes)}",
                "related",
                len(codes),
                where,
            )
        )
    if doc.code in codes:
        problems.append(Problem("a table cannot be related to itself", "related", doc.code, where))
    unknown = [c for c in codes if c not in known]
    if unknown:
        problems.append(
            Problem(
                f"related codes not found in this import or the knowledge base: {', '.join(unknown)}",
                "related",
                unknown if len(unknown) > 1 else unknown[0],
                where,
            )
        )
    return codes, problems


def moves(table: KnowledgeTable, package: PackagePlan) -> bool:
    return package.existing is None or table.package_id != package.existing.id


def _movable(existing: KnowledgeTable, package: PackagePlan, doc: TableDoc) -> list[Problem]:
    """A table named under another package moves there; its current content must fit it."""
    latest = content_of(existing.latest_revision)
    _, found = check_content(package.probe, latest)
    if not found:
        return []
    misfits = ", ".join(dict.fromkeys(p.field or "?" for p in found))
    return [
        Problem(
            f"table {existing.code} belongs to package {existing.package.category.name}/"
            f"{existing.package.name}; moving it to {package.doc.category}/{package.doc.name} "
            f"needs its latest revision to fit that template, but these fields do not: "
            f"{misfits}. Edit the table first, or leave it in its package",
            "package",
            f"{package.doc.category}/{package.doc.name}",
            doc.location,
        )
    ]
