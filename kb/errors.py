"""Domain errors of the knowledge model; ``api/`` maps them to HTTP by ``status``.

ZhikuError (500)
├── ValidationFailed (422)   input breaks a rule; carries a list of Problems
│   └── ImportRejected (422) a content import was refused as a whole
├── NotFound (404)           a category, package, table, revision or user is missing
├── Conflict (409)           duplicate code, illegal state transition, stale edit
├── PermissionDenied (403)   the actor's role or scope does not allow the action
│   └── ImportRefused (403)  an import asks for rights its actor lacks; lists each refusal
├── Unauthenticated (401)    no or unknown token
└── ConfigurationError (500) settings or on-disk state Zhiku cannot work with
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with some input, located well enough for a person to fix it."""

    message: str
    field: str | None = None
    value: object = None
    location: str | None = None  # e.g. "content/demo/通信业务/改号.yaml:12" or "sheet.csv row 7"

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        if not isinstance(self.value, str | int | float | bool | type(None)):
            data["value"] = repr(self.value)
        return data


class ZhikuError(Exception):
    """Base of every error Zhiku raises on purpose."""

    status = 500

    def __init__(self, message: str, *, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message, *(f"  - {p}" for p in self.problems)]
        return "\n".join(lines)


class ValidationFailed(ZhikuError):
    status = 422

    @classmethod
    def one(
        cls, message: str, *, field: str | None = None, value: object = None
    ) -> ValidationFailed:
        return cls(message, problems=[Problem(message, field=field, value=value)])


class ImportRejected(ValidationFailed):
    status = 422


class NotFound(ZhikuError):
    status = 404


class Conflict(ZhikuError):
    status = 409


class PermissionDenied(ZhikuError):
    status = 403


class ImportRefused(PermissionDenied):
    status = 403


class Unauthenticated(ZhikuError):
    status = 401


class ConfigurationError(ZhikuError):
    status = 500
