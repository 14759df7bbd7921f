"""The JSON Schemas of content files (``content/schema/``), and their errors as located Problems."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kb.errors import ConfigurationError, Problem
from kb.transfer.yamlio import Loaded

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "content" / "schema"
PACKAGE = "package"
DICTIONARY = "dictionary"
CATEGORY = "category"


@cache
def validator(name: str) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{name}.schema.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigurationError(
            f"JSON Schema {path} is missing ({err.strerror}); reinstall Zhiku from its source tree."
        ) from err
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_problems(loaded: Loaded, name: str, file: str) -> list[Problem]:
    """Every way ``loaded.data`` breaks schema ``name``, located at ``file:line``."""
    return [problem for _, problem in schema_errors(loaded, name, file)]


def schema_errors(loaded: Loaded, name: str, file: str) -> list[tuple[tuple[Any, ...], Problem]]:
    """Like :func:`schema_problems`, each with the path of the value it is about."""
    errors = sorted(validator(name).iter_errors(loaded.data), key=lambda e: list(e.absolute_path))
    return [(tuple(error.absolute_path), _problem(error, loaded, file)) for error in errors]


def dotted(path: tuple[Any, ...] | list[Any]) -> str:
    """``tables[3].fields.answer`` from ("tables", 3, "fields", "answer")."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(error: ValidationError, loaded: Loaded, file: str) -> Problem:
    path = tuple(error.absolute_path)
    # anyOf errors say only "is not valid under any of the given schemas"; the best branch
    # (the first whose type matched) says what is actually wrong.
    if error.validator == "anyOf" and error.context:
        typed = [e for e in error.context if e.validator != "type"]
        if typed:
            error = min(typed, key=lambda e: len(e.path))
            path = tuple(error.absolute_path)
        elif error.schema.get("description"):
            return Problem(
                f"{error.instance!r} is not valid here: expected {error.schema['description']}",
                dotted(path) or None,
                _scalar(error.instance),
                f"{file}:{loaded.line(path)}",
            )
    return Problem(
        _message(error),
        dotted(path) or None,
        _scalar(error.instance),
        f"{file}:{loaded.line(path)}",
    )


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; allowed here: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{error.message}; add it"
    if error.validator == "type" and isinstance(error.instance, int | float):
        return f"{error.message}; put quotes around it to make it text"
    if error.validator == "pattern" and error.schema.get("description"):
        return f"{error.instance!r} is not valid: {error.schema['description']}"
    return f"{error.message}"


def _scalar(value: Any) -> object:
    return value if isinstance(value, str | int | float | bool | type(None)) else None
