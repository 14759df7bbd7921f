"""Field templates (结构化模板) and the rules a table's fields must satisfy. Pure: no database.

Every template has a field with key ``answer``: the standard reply (标准答复) that agents copy
and customers read. Text and markdown fields hold a string; steps and list fields hold a list of
strings.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from kb.errors import Problem, ValidationFailed
from kb.models import Audience

ANSWER_KEY = "answer"
MAX_LABEL_CHARS = 40
# Staff names of common fields and what customers read instead (a template may say otherwise).
CUSTOMER_LABELS = {"标准答复": "答复", "标准回复": "答复", "标准答案": "答案", "问题描述": "问题"}
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class FieldType(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    STEPS = "steps"
    LIST = "list"

    @property
    def is_list(self) -> bool:
        return self in {FieldType.STEPS, FieldType.LIST}


@dataclass(frozen=True)
class FieldSpec:
    """One field of a template."""

    key: str
    label: str
    type: FieldType = FieldType.TEXT
    required: bool = False
    searchable: bool = True
    weight: float = 1.0
    audience: Audience = Audience.PUBLIC
    customer_label: str = ""  # what customers read; empty: derived from the label

    @property
    def customer_sees(self) -> str:
        """The label on the customer portal: the template's, else a customer word for it."""
        return self.customer_label or CUSTOMER_LABELS.get(self.label, self.label)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type"] = self.type.value
        data["audience"] = self.audience.value
        # Left out when unset, so that templates stored before customer labels stay equal.
        if not self.customer_label:
            del data["customer_label"]
        return data


def parse_template(raw: Any, *, location: str | None = None) -> list[FieldSpec]:
    """Template from its stored/file form (a list of dicts); raises ValidationFailed listing every problem."""
    problems: list[Problem] = []
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed(
            "A template is a non-empty list of fields.",
            problems=[Problem("must be a non-empty list of fields", "template", raw, location)],
        )
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"template[{i}]"
        if not isinstance(item, dict):
            problems.append(Problem("must be a mapping with key and label", where, item, location))
            continue
        unknown = set(item) - {
            "key",
            "label",
            "type",
            "required",
            "searchable",
            "weight",
            "audience",
            "customer_label",
        }
        if unknown:
            problems.append(Problem(f"unknown setting(s) {sorted(unknown)}", where, None, location))
        key = item.get("key")
        if not isinstance(key, str) or not _KEY_RE.match(key):
            problems.append(
                Problem(
                    "key must be lower-case ASCII letters, digits or _ (e.g. answer, steps)",
                    f"{where}.key",
                    key,
                    location,
                )
            )
            continue
        if key in seen:
            problems.append(Problem(f"duplicate field key {key!r}", f"{where}.key", key, location))
            continue
        seen.add(key)
        label = item.get("label", key)
        if not isinstance(label, str) or not label.strip():
            problems.append(
                Problem("label must be a non-empty string", f"{where}.label", label, location)
            )
            continue
        customer_label = item.get("customer_label") or ""
        if not isinstance(customer_label, str) or len(customer_label.strip()) > MAX_LABEL_CHARS:
            problems.append(
                Problem(
                    f"customer_label must be a string of at most {MAX_LABEL_CHARS} characters "
                    "(empty: derived from the label)",
                    f"{where}.customer_label",
                    customer_label,
                    location,
                )
            )
            continue
        try:
            ftype = FieldType(item.get("type", "text"))
        except ValueError:
            problems.append(
                Problem(
                    f"type must be one of {[t.value for t in FieldType]}",
                    f"{where}.type",
                    item.get("type"),
                    location,
                )
            )
            continue
        try:
            audience = Audience(item.get("audience", "public"))
        except ValueError:
            problems.append(
                Problem(
                    "audience must be public or internal",
                    f"{where}.audience",
                    item.get("audience"),
                    location,
                )
            )
            continue
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 10:
            problems.append(
                Problem("weight must be a number from 0 to 10", f"{where}.weight", weight, location)
            )
            continue
        flags = {}
        for name, default in (("required", False), ("searchable", True)):
            value = item.get(name, default)
            if not isinstance(value, bool):
                problems.append(
                    Problem(f"{name} must be true or false", f"{where}.{name}", value, location)
                )
            flags[name] = bool(value)
        specs.append(
            FieldSpec(
                key=key,
                label=label.strip(),
                type=ftype,
                required=flags["required"],
                searchable=flags["searchable"],
                weight=float(weight),
                audience=audience,
                customer_label=customer_label.strip(),
            )
        )
    answer = next((s for s in specs if s.key == ANSWER_KEY), None)
    if not problems and answer is None:
        problems.append(
            Problem(
                "every template needs a field with key 'answer' (标准答复)",
                "template",
                None,
                location,
            )
        )
    if answer is not None and answer.type.is_list:
        problems.append(
            Problem(
                "the answer field must be text or markdown",
                "template.answer.type",
                answer.type.value,
                location,
            )
        )
    labels = [s.label for s in specs]
    for label in {lb for lb in labels if labels.count(lb) > 1}:
        problems.append(Problem(f"duplicate field label {label!r}", "template", label, location))
    if problems:
        raise ValidationFailed("The field template is not valid.", problems=problems)
    return specs


def template_to_raw(specs: list[FieldSpec]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in specs]


def check_fields(
    specs: list[FieldSpec],
    values: Any,
    *,
    package: str,
    template_version: int,
    location: str | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Normalized field values and every way they break the template.

    Strings are stripped; list fields accept a list of strings (empty items dropped); empty
    optional fields are left out of the result so that storage and export stay canonical.
    """
    problems: list[Problem] = []
    if not isinstance(values, dict):
        return {}, [
            Problem("fields must be a mapping of field key to value", "fields", values, location)
        ]
    by_key = {s.key: s for s in specs}
    by_label = {s.label: s for s in specs}
    clean: dict[str, Any] = {}
    for raw_key, value in values.items():
        spec = by_key.get(raw_key) or by_label.get(raw_key)
        if spec is None and _blank(value):
            continue  # removing a field the template no longer has: nothing to remove
        if spec is None:
            known = ", ".join(f"{s.key} ({s.label})" for s in specs)
            problems.append(
                Problem(
                    f"not in the template of package {package} (v{template_version}); known fields: {known}",
                    str(raw_key),
                    None,
                    location,
                )
            )
            continue
        normalized = _normalize_value(spec, value)
        if normalized is None:
            kind = "a list of strings" if spec.type.is_list else "a string"
            problems.append(Problem(f"{spec.label} must be {kind}", spec.key, value, location))
            continue
        if normalized:
            clean[spec.key] = normalized
    for spec in specs:
        if (
            spec.required
            and spec.key not in clean
            and not any(p.field == spec.key for p in problems)
        ):
            problems.append(
                Problem(
                    f"{spec.label} is required by package {package} (template v{template_version})",
                    spec.key,
                    None,
                    location,
                )
            )
    ordered = {s.key: clean[s.key] for s in specs if s.key in clean}
    return ordered, problems


def _blank(value: Any) -> bool:
    """An empty value: what removes a field."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list):
        return all(isinstance(v, str) and not v.strip() for v in value)
    return False


def _normalize_value(spec: FieldSpec, value: Any) -> str | list[str] | None:
    if value is None:
        return [] if spec.type.is_list else ""
    if spec.type.is_list:
        if isinstance(value, str):
            items = value.splitlines()
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            items = [str(v) for v in value]
        else:
            return None
        return [item.strip() for item in items if item.strip()]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip()


def validate_fields(
    specs: list[FieldSpec], values: Any, *, package: str, template_version: int
) -> dict[str, Any]:
    """Normalized values, or ValidationFailed naming every bad field."""
    clean, problems = check_fields(
        specs, values, package=package, template_version=template_version
    )
    if problems:
        raise ValidationFailed(
            f"Fields do not match the template of package {package} (v{template_version}).",
            problems=problems,
        )
    return clean


def normalize_strings(
    values: Any, *, field: str, location: str | None = None
) -> tuple[list[str], list[Problem]]:
    """A list of non-empty stripped strings without duplicates (similar questions, tags)."""
    if values is None:
        return [], []
    if isinstance(values, str):
        values = values.splitlines()
    if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
        return [], [Problem("must be a list of strings", field, values, location)]
    # dict keeps the first occurrence in order; a list scan here was quadratic.
    out = dict.fromkeys(s for s in (str(v).strip() for v in values) if s)
    return list(out), []


def public_fields(specs: list[FieldSpec], values: dict[str, Any]) -> dict[str, Any]:
    """Only the values of fields a customer may see."""
    public = {s.key for s in specs if s.audience is Audience.PUBLIC}
    return {k: v for k, v in values.items() if k in public}
