"""Reading a content directory (content/README.md) into a :class:`Bundle`.

Each file is checked against its JSON Schema first; a file that breaks it contributes its
problems (located ``file:line``) instead of its content. Cross-file rules (unique codes, known
related codes, fields against templates) are the importer's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from kb.errors import Problem
from kb.transfer import schemas, yamlio
from kb.transfer.bundle import Bundle, CategoryDoc, PackageDoc, TableDoc

SUFFIXES = (".yaml", ".yml")
DICTIONARY_FILE = "_dictionary.yaml"
CATEGORY_FILE = "_category.yaml"
DEFAULT_REVIEW_INTERVAL_DAYS = 180


def is_content_name(path: Path) -> bool:
    """Files and directories whose name starts with ``_`` or ``.`` are not packages/categories."""
    return not path.name.startswith(("_", "."))


def read_directory(root: Path) -> Bundle:
    """Every category, package, table and dictionary entry under ``root``."""
    bundle = Bundle(source=str(root))
    for entry in sorted(root.iterdir()):
        if entry.name == DICTIONARY_FILE:
            _read_dictionary(entry, bundle)
        elif not is_content_name(entry):
            continue
        elif entry.is_dir():
            _read_category(entry, bundle)
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


def _read_category(directory: Path, bundle: Bundle) -> None:
    category = CategoryDoc(name=directory.name, location=str(directory))
    bundle.categories.append(category)
    for entry in sorted(directory.iterdir()):
        if entry.name == CATEGORY_FILE:
            loaded = _load(entry, schemas.CATEGORY, bundle)
            if loaded is not None:
                data = loaded.data or {}
                category.description = data.get("description") or ""
                category.position = data.get("position", 0)
                category.location = f"{entry}:1"
        elif entry.name == DICTIONARY_FILE:
            _read_dictionary(entry, bundle)
        elif not is_content_name(entry):
            continue
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
            _read_package(entry, directory.name, bundle)


def _read_package(path: Path, category: str, bundle: Bundle) -> None:
    loaded = _load(path, schemas.PACKAGE, bundle, validate=False)
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
        location=at(*base),
        locations=locations,
    )


def _read_dictionary(path: Path, bundle: Bundle) -> None:
    loaded = _load(path, schemas.DICTIONARY, bundle)
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
    path: Path, schema: str, bundle: Bundle, *, validate: bool = True
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
        loaded = yamlio.load(text)
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
