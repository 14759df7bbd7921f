"""Writing the database back as a content directory (content/README.md), loss-free.

Each table is written with the content of its live revision, or of its latest revision when none
is live (a table that was never published), which is what the importer compares against, so
importing an export changes nothing. A revision is read through the template version it was
written under, so a package file states its current template's version and the earlier versions
its tables were written under, and a table its version when not the current one
(kb.transfer.versions). History (older revisions, unused template versions, audit) stays in the
database; the files hold the current state.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from kb import repository
from kb.errors import ConfigurationError, Conflict, ValidationFailed
from kb.hierarchy import name_problems, package_path, specs_of
from kb.models import Audience, KnowledgeTable, Package, RevisionState
from kb.templates import FieldSpec
from kb.transfer.dates import format_when
from kb.transfer.plan import reference_revision
from kb.transfer.versions import written_under
from kb.transfer.yaml_files import CATEGORY_FILE, DICTIONARY_FILE, SUFFIXES, is_content_name
from kb.transfer.yamlio import Flow, FlowList, dump


@dataclass
class ExportSummary:
    categories: int = 0
    packages: int = 0
    tables: int = 0
    files: int = 0


def export_files(session: Session) -> dict[Path, str]:
    """Relative path → YAML text of every file of the export."""
    by_package: dict[int, list[KnowledgeTable]] = defaultdict(list)
    for table in repository.all_tables(session):
        by_package[table.package_id].append(table)
    files: dict[Path, str] = {
        Path(DICTIONARY_FILE): dump(
            {
                "synonyms": [FlowList(g) for g in repository.synonym_groups(session)],
                "terms": FlowList(repository.domain_terms(session)),
            }
        )
    }
    for category in repository.all_categories(session):
        _check_file_name(category.name, "category", category.name)
        folder = Path(category.name)
        files[folder / CATEGORY_FILE] = dump(
            {"description": category.description, "position": category.position}
        )
        for package in category.packages:
            _check_file_name(package.name, "package", package_path(package))
            text = dump(package_document(package, by_package.get(package.id, [])))
            # A blank line between tables, as in hand-written files; safe because only a table
            # item starts a line with exactly two spaces and "- code:".
            files[folder / f"{package.name}.yaml"] = text.replace(
                "\n  - code: ", "\n\n  - code: "
            ).replace("\ntables:\n\n", "\ntables:\n")
    return files


def package_document(package: Package, tables: list[KnowledgeTable]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "package": package.name,
        "description": package.description,
        "review_interval_days": package.review_interval_days,
    }
    if package.owner:
        doc["owner"] = package.owner
    doc["position"] = package.position
    doc["template_version"] = package.template.version
    doc["template"] = [_spec(s) for s in specs_of(package.template)]
    used = {v.version: v for v in (written_under(reference_revision(t)) for t in tables)}
    earlier = [used[v] for v in sorted(used) if v != package.template.version]
    if earlier:
        doc["earlier_templates"] = [
            {"version": t.version, "template": [_spec(s) for s in specs_of(t)]} for t in earlier
        ]
    doc["tables"] = [table_document(t) for t in sorted(tables, key=lambda t: t.code)]
    return doc


def _spec(spec: FieldSpec) -> Flow:
    """Only what differs from the defaults, as people write it."""
    out = Flow(key=spec.key)
    if spec.label != spec.key:
        out["label"] = spec.label
    if spec.type.value != "text":
        out["type"] = spec.type.value
    if spec.required:
        out["required"] = True
    if not spec.searchable:
        out["searchable"] = False
    if spec.weight != 1.0:
        out["weight"] = spec.weight
    if spec.audience is not Audience.PUBLIC:
        out["audience"] = spec.audience.value
    if spec.customer_label:
        out["customer_label"] = spec.customer_label
    return out


def table_document(table: KnowledgeTable) -> dict[str, Any]:
    revision = reference_revision(table)
    doc: dict[str, Any] = {"code": table.code, "title": revision.title}
    if revision.questions:
        doc["questions"] = list(revision.questions)
    if revision.tags:
        doc["tags"] = FlowList(revision.tags)
    if table.audience is not Audience.PUBLIC:
        doc["audience"] = table.audience.value
    for name in ("author", "source"):
        if getattr(table, name):
            doc[name] = getattr(table, name)
    for name, value in (
        ("valid_from", table.valid_from),
        ("valid_until", table.valid_until),
        ("last_verified", table.last_verified_at),
    ):
        if value is not None:
            doc[name] = format_when(value)
    if table.related:
        doc["related"] = FlowList(t.code for t in table.related)
    if table.live_revision is None:  # imported as it is here: retired, or still to be reviewed
        doc["state"] = "archived" if revision.state is RevisionState.ARCHIVED else "draft"
    template = written_under(revision)
    if template.version != table.package.template.version:
        doc["template_version"] = template.version
    # What the revision's template has: a value it does not is shown nowhere (and would not
    # import).
    keys = {spec.key for spec in specs_of(template)}
    doc["fields"] = {k: v for k, v in revision.fields.items() if k in keys}
    return doc


def _check_file_name(name: str, what: str, label: str) -> None:
    problems = name_problems(name, what)
    if problems:
        verb = f"kb {what} rename {label!r} NEW_NAME"
        raise ValidationFailed(
            f"{what} {label!r} cannot be exported: {problems[0].message}. Rename the {what} "
            f"first ({verb}, or in the admin desk).",
            problems=problems,
        )


def write_directory(session: Session, path: Path, *, overwrite: bool = False) -> ExportSummary:
    """Write the whole knowledge base under ``path``.

    Args:
        overwrite: write into a non-empty directory; content files there that the export does
            not write (packages and categories no longer in the database) are removed, so that
            the directory imports back as exactly this database. Other files are left alone.
    """
    files = export_files(session)
    if path.exists() and not path.is_dir():
        raise Conflict(f"{path} is a file; give a directory to export into.")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise Conflict(
            f"{path} is not empty; choose a new directory or pass --force to overwrite the "
            "content files in it."
        )
    # Everything is written next to the target first and moved into place once complete, so
    # that a failure (a full disk, a name the file system refuses) leaves no half export.
    try:
        _write_staged(path, files, overwrite_into=path.exists() and any(path.iterdir()))
    except OSError as err:  # a parent that is a file, a place no one may write
        raise ConfigurationError(
            f"Nothing was exported to {path}: {err.strerror or err} ({err.filename or path})."
        ) from err
    summary = ExportSummary(files=len(files))
    summary.categories = sum(1 for p in files if p.name == CATEGORY_FILE)
    summary.packages = sum(1 for p in files if is_content_name(p) and len(p.parts) == 2)
    summary.tables = repository.count(session, KnowledgeTable)
    return summary


def _write_staged(path: Path, files: dict[Path, str], *, overwrite_into: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.export-", dir=path.parent) as tmp:
        staged = Path(tmp) / "content"
        try:
            for relative, text in files.items():
                target = staged / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
        except (OSError, ValueError) as err:
            raise ConfigurationError(
                f"Nothing was exported to {path}: writing {relative} failed ({err})."
            ) from err
        if not overwrite_into:
            if path.exists():
                path.rmdir()
            staged.rename(path)
        else:
            _remove_stale(path, set(files))
            for relative in files:
                (path / relative).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / relative, path / relative)


def _remove_stale(root: Path, keep: set[Path]) -> None:
    candidates = [p for p in root.glob("*") if p.suffix in SUFFIXES]
    candidates += [p for p in root.glob("*/*") if p.suffix in SUFFIXES and p.is_file()]
    for file in candidates:
        if file.relative_to(root) not in keep:
            file.unlink()
    for folder in root.iterdir():
        if folder.is_dir() and is_content_name(folder) and not any(folder.iterdir()):
            folder.rmdir()
