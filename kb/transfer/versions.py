"""Template versions in content files: which version each table's fields were written under.

A revision is read through the template version it was written under (which fields it has,
which are internal), so an export states per package the number of its current template and
the earlier versions that its tables still use, and per table the version when it is not the
current one (content/README.md). Numbers name versions within one file: the importer matches
them to the package's stored versions by their fields, and adds the ones it lacks that a table
it writes needs. A file that states no versions reads every table through its template, as
files did before versions were exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kb.errors import Problem, ValidationFailed
from kb.hierarchy import specs_of, template_with
from kb.models import FieldTemplate, Package, Revision
from kb.templates import parse_template, template_to_raw
from kb.transfer.bundle import PackageDoc, TableDoc


@dataclass
class Versions:
    """A package file's template versions."""

    current: int | None = None  # the number of the file's template; None: it states none
    # Earlier versions by number, checked and normalized (transient: never added to a session).
    earlier: dict[int, FieldTemplate] = field(default_factory=dict)


def read_versions(doc: PackageDoc) -> tuple[Versions, list[Problem]]:
    """The versions ``doc`` states, and every problem with them."""
    problems: list[Problem] = []
    current = doc.template_version
    if current is not None and not _is_number(current):
        problems.append(_not_a_number("template_version", current, doc.template_location))
        current = None
    versions = Versions(current)
    for index, item in enumerate(doc.earlier_templates):
        name = f"earlier_templates[{index}].version"
        if not _is_number(item.version):
            problems.append(_not_a_number(name, item.version, item.location))
            continue
        if item.version in versions.earlier:
            problems.append(
                Problem(
                    f"template version {item.version} is listed twice; keep one",
                    name,
                    item.version,
                    item.location,
                )
            )
            continue
        if current is not None and item.version >= current:
            problems.append(
                Problem(
                    f"an earlier template's version must be below template_version ({current})",
                    name,
                    item.version,
                    item.location,
                )
            )
            continue
        try:
            specs = parse_template(item.template, location=item.location)
        except ValidationFailed as err:
            problems += err.problems
            continue
        versions.earlier[item.version] = FieldTemplate(
            version=item.version, fields=template_to_raw(specs)
        )
    return versions, problems


def table_template(doc: TableDoc, versions: Versions) -> tuple[FieldTemplate | None, list[Problem]]:
    """The earlier version ``doc``'s fields were written under; None: the current template."""
    number = doc.template_version
    where = doc.where("template_version")
    if number is None or (number == versions.current and _is_number(number)):
        return None, []
    if not _is_number(number):
        return None, [_not_a_number("template_version", number, where)]
    found = versions.earlier.get(number)
    if found is not None:
        return found, []
    stated = ([] if versions.current is None else [versions.current]) + sorted(versions.earlier)
    listed = ", ".join(map(str, sorted(stated))) or "none"
    return None, [
        Problem(
            f"template version {number} is not in this file (it states: {listed}); add it "
            "under earlier_templates, or leave template_version out to use the template",
            "template_version",
            number,
            where,
        )
    ]


def written_under(revision: Revision) -> FieldTemplate:
    """The stored template version ``revision`` is read through (the current one if it is gone)."""
    package = revision.table.package
    return next(
        (t for t in package.templates if t.version == revision.template_version),
        package.template,
    )


def stored_fields(template: FieldTemplate) -> list[dict[str, Any]]:
    """A stored version's fields as parsed now, comparable with a file's."""
    return template_to_raw(specs_of(template))


def to_add(
    existing: Package | None,
    current: list[dict[str, Any]],
    needed: list[FieldTemplate],
) -> list[FieldTemplate]:
    """The earlier versions (of ``needed``) that the package lacks, by number, once each."""
    found: dict[str, FieldTemplate] = {}
    for template in sorted(needed, key=lambda t: t.version):
        raw = template.fields
        if raw == current or (existing is not None and template_with(existing, raw) is not None):
            continue
        found.setdefault(repr(raw), template)
    return list(found.values())


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _not_a_number(name: str, value: Any, location: str | None) -> Problem:
    return Problem("a template version is a whole number from 1", name, value, location)
