"""Reading a content directory (content/README.md) into a :class:`Bundle`.

Each file is checked against its JSON Schema first; a file that breaks it contributes its
problems (located ``file:line``) instead of its content. Cross-file rules (unique codes, known
related codes, fields against templates) are the importer's.

Reading is bounded (:mod:`kb.transfer.limits`): symbolic links and other non-regular files are
refused without being opened (a link could point at any file on the server, whose content a
schema error would then echo), and the number of files, their sizes and each YAML document's
shape are limited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kb.errors import Problem
from kb.transfer import schemas, yamlio
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc, TemplateDoc
from kb.transfer.limits import ImportLimits, over

SUFFIXES = (".yaml", ".yml")
DICTIONARY_FILE = "_dictionary.yaml"
CATEGORY_FILE = "_category.yaml"
DEFAULT_REVIEW_INTERVAL_DAYS = 180


def is_content_name(path: Path) -> bool:
    """Files and directories whose name starts with ``_`` or ``.`` are not packages/categories."""
    return not path.name.startswith(("_", "."))


@dataclass
class _Budget:
    """What one directory read may still open; refuses links and counts files and bytes."""

    limits: ImportLimits
    files: int = 0
    bytes: int = 0
    exhausted: bool = False

    def admit(self, entry: Path, bundle: Bundle) -> bool:
        """Whether ``entry`` may be read; a problem is noted for one that may not."""
        if self.exhausted:
            return False
        if entry.is_symlink():
            bundle.problems.append(
                Problem(
                    "a symbolic link; imports read only plain files and directories (copy the "
                    "file in instead of linking it)",
                    None,
                    entry.name,
                    str(entry),
                )
            )
            return False
        if entry.is_dir():
            return True
        if not entry.is_file():
            bundle.problems.append(
                Problem("not a plain file (a device, socket or pipe)", None, entry.name, str(entry))
            )
            return False
        if entry.suffix not in SUFFIXES:
            return True  # never opened
        self.files += 1
        size = entry.stat().st_size
        self.bytes += size
        if self.files > self.limits.files:
            problem = over("the number of files", self.files, self.limits, "files")
        elif size > self.limits.file_bytes:
            problem = over("the file's size in bytes", size, self.limits, "file_bytes")
            bundle.problems.append(Problem(problem, None, None, str(entry)))
            return False
        elif self.bytes > self.limits.total_bytes:
            problem = over("the bytes of all files read", self.bytes, self.limits, "total_bytes")
        else:
            return True
        self.exhausted = True  # stop here: the import is refused anyway
        bundle.problems.append(
            Problem(f"{problem}; nothing further was read", None, None, str(entry))
        )
        return False


def read_directory(root: Path, limits: ImportLimits | None = None) -> Bundle:
    """Every category, package, table and dictionary entry under ``root``."""
    bundle = Bundle(source=str(root))
    budget = _Budget(limits or ImportLimits.from_settings())
    for entry in sorted(root.iterdir()):
        if not (is_content_name(entry) or entry.name == DICTIONARY_FILE):
            continue
        if not budget.admit(entry, bundle):
            continue
        if entry.name == DICTIONARY_FILE:
            _read_dictionary(entry, bundle, budget)
        elif entry.is_dir():
            _read_category(entry, bundle, budget)
        elif entry.suffix in SUFFIXES:
            bundle.problems.append(
                Problem(
                    "a package file must sit in a category directory "
                    f"(e.g. {root / '通信业务' / entry.name})",
                    None,
                    entry.name,
                    str(entry),
                )
            )
    return bundle


def _read_category(directory: Path, bundle: Bundle, budget: _Budget) -> None:
    category = CategoryDoc(name=directory.name, location=str(directory))
    bundle.categories.append(category)
    for entry in sorted(directory.iterdir()):
        if not (is_content_name(entry) or entry.name in (CATEGORY_FILE, DICTIONARY_FILE)):
            continue
        if not budget.admit(entry, bundle):
            continue
        if entry.name == CATEGORY_FILE:
            loaded = _load(entry, schemas.CATEGORY, bundle, budget.limits)
            if loaded is not None:
                data = loaded.data or {}
                category.description = data.get("description") or ""
                category.position = data.get("position", 0)
                category.location = f"{entry}:1"
        elif entry.name == DICTIONARY_FILE:
            _read_dictionary(entry, bundle, budget)
        elif entry.is_dir():
            bundle.problems.append(
                Problem(
                    "a category directory holds package files only; nested directories are "
                    "not part of the format (move its files up or into their own category)",
                    None,
                    entry.name,
                    str(entry),
                )
            )
        elif entry.suffix in SUFFIXES:
            _read_package(entry, directory.name, bundle, budget)


def _read_package(path: Path, category: str, bundle: Bundle, budget: _Budget) -> None:
    loaded = _load(path, schemas.PACKAGE, bundle, budget.limits, validate=False)
    if loaded is None:
        return
    # A table that breaks the schema is left out alone, so that the rest of the file is still
    # checked and every problem is reported in one run; any other schema error drops the file.
    errors = schemas.schema_errors(loaded, schemas.PACKAGE, str(path))
    bundle.problems.extend(problem for _, problem in errors)
    bad_tables = {p[1] for p, _ in errors if len(p) >= 2 and p[0] == "tables"}
    if any(not (len(p) >= 2 and p[0] == "tables") for p, _ in errors):
        bundle.unread_codes |= _codes(loaded.data)
        return
    data: dict[str, Any] = loaded.data
    at = _locator(path, loaded)
    if data["package"] != path.stem:
        bundle.problems.append(
            Problem(
                f"package name must equal the file name without {path.suffix}: rename the file "
                f"to {data['package']}{path.suffix} or set package: {path.stem}",
                "package",
                data["package"],
                at("package"),
            )
        )
    package = PackageDoc(
        category=category,
        name=data["package"],
        template=data["template"],
        description=data.get("description") or "",
        review_interval_days=data.get("review_interval_days", DEFAULT_REVIEW_INTERVAL_DAYS),
        owner=data.get("owner") or "",
        position=data.get("position", 0),
        location=at(),
        template_location=at("template"),
        template_version=data.get("template_version"),
        earlier_templates=[
            TemplateDoc(
                version=item["version"],
                template=item["template"],
                location=at("earlier_templates", index, "template"),
            )
            for index, item in enumerate(data.get("earlier_templates") or [])
        ],
    )
    for index, raw in enumerate(data.get("tables") or []):
        if index in bad_tables:
            bundle.unread_codes |= _codes({"tables": [raw]})
        else:
            package.tables.append(_table(raw, at, ("tables", index)))
    bundle.packages.append(package)


def _table(raw: dict[str, Any], at: Callable[..., str], base: tuple[str | int, ...]) -> TableDoc:
    fields = raw.get("fields") or {}
    locations = {key: at(*base, key) for key in raw}
    locations.update({f"fields.{key}": at(*base, "fields", key) for key in fields})
    return TableDoc(
        code=raw["code"],
        title=raw["title"],
        questions=raw.get("questions"),
        tags=raw.get("tags"),
        fields=fields,
        audience=raw.get("audience", "public"),
        author=raw.get("author") or "",
        source=raw.get("source") or "",
        valid_from=raw.get("valid_from"),
        valid_until=raw.get("valid_until"),
        last_verified=raw.get("last_verified"),
        related=raw.get("related") or [],
        state=raw.get("state"),
        template_version=raw.get("template_version"),
        location=at(*base),
        locations=locations,
    )


def _read_dictionary(path: Path, bundle: Bundle, budget: _Budget) -> None:
    loaded = _load(path, schemas.DICTIONARY, bundle, budget.limits)
    if loaded is None:
        return
    data = loaded.data or {}
    at = _locator(path, loaded)
    bundle.dictionary_given = True
    for index, group in enumerate(data.get("synonyms") or []):
        bundle.synonyms.append(group)
        bundle.synonym_locations.append(at("synonyms", index))
    bundle.terms.extend(data.get("terms") or [])
    if data.get("terms"):
        bundle.terms_location = bundle.terms_location or at("terms")


def _locator(path: Path, loaded: yamlio.Loaded) -> Callable[..., str]:
    return lambda *keys: f"{path}:{loaded.line(keys)}"


def _load(
    path: Path, schema: str, bundle: Bundle, limits: ImportLimits, *, validate: bool = True
) -> yamlio.Loaded | None:
    """The file's data when it is UTF-8 YAML valid against ``schema``; else None (problems noted).

    With ``validate=False`` the caller checks the schema itself.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bundle.problems.append(
            Problem(
                f"not UTF-8 text (byte {err.start}); re-save the file as UTF-8",
                None,
                None,
                str(path),
            )
        )
        return None
    try:
        loaded = yamlio.load(text, limits)
    except yamlio.YamlTooLarge as err:
        bundle.problems.append(Problem(err.message, None, None, f"{path}:{err.line}"))
        return None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else 1
        bundle.problems.append(
            Problem(f"not valid YAML: {err.problem or err}", None, None, f"{path}:{line}")
        )
        return None
    except yaml.YAMLError as err:
        bundle.problems.append(Problem(f"not valid YAML: {err}", None, None, str(path)))
        return None
    if not validate or (loaded.data is None and schema != schemas.PACKAGE):
        return loaded  # an empty _category.yaml or _dictionary.yaml says nothing
    problems = schemas.schema_problems(loaded, schema, str(path))
    if problems:
        bundle.problems.extend(problems)
        bundle.unread_codes |= _codes(loaded.data)
        return None
    return loaded


def _codes(data: Any) -> set[str]:
    tables = data.get("tables") if isinstance(data, dict) else None
    if not isinstance(tables, list):
        return set()
    return {t["code"] for t in tables if isinstance(t, dict) and isinstance(t.get("code"), str)}
