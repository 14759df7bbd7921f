"""What presenters take (an entry: its fields as data) and what they give (a rendering)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

ANSWER_KEY = "answer"


class OutputChannel(StrEnum):
    """Where an answer goes: the agent's own screen, or out to a customer by one medium."""

    AGENT = "agent"  # the whole entry, internal fields included, for the agent to read or log
    WEB = "web"  # a web page or chat widget: sanitized Markdown and HTML
    SMS = "sms"  # plain text in 70-character segments
    WECHAT = "wechat"  # WeChat official-account text message
    VOICE = "voice"  # IVR / text-to-speech


class FieldLike(Protocol):
    """A field value as the index (``DocField``) or the portal (``PublicField``) holds it."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> Any: ...


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    type: str  # text | markdown | steps | list
    value: str | list[str]
    internal: bool = False

    @classmethod
    def of(cls, source: FieldLike, *, internal: bool | None = None) -> Field:
        """A copy of any field-like object (``internal`` read from its audience when not given)."""
        if internal is None:
            internal = str(getattr(source, "audience", "public")) == "internal"
        value = source.value
        if isinstance(value, list):
            value = [str(v) for v in value]
        else:
            value = "" if value is None else str(value)
        return cls(source.key, source.label, str(source.type), value, internal)


@dataclass(frozen=True)
class Entry:
    """One knowledge table as presenters see it; fields in template order."""

    code: str
    title: str
    path: tuple[str, ...]  # category, package
    fields: tuple[Field, ...]
    public: bool = True  # the table is public: a customer page exists for it

    @property
    def answer(self) -> Field | None:
        return next((f for f in self.fields if f.key == ANSWER_KEY), None)

    @property
    def customer_answer(self) -> Field | None:
        """The answer a customer channel may carry: none where a template marks it internal."""
        answer = self.answer
        return None if answer is None or answer.internal else answer

    def converted(self, convert: Callable[[str], str]) -> Entry:
        """The same entry with every text passed through ``convert`` (e.g. to Traditional)."""

        def value(v: str | list[str]) -> str | list[str]:
            return [convert(x) for x in v] if isinstance(v, list) else convert(v)

        return replace(
            self,
            title=convert(self.title),
            path=tuple(convert(p) for p in self.path),
            fields=tuple(
                replace(f, label=convert(f.label), value=value(f.value)) for f in self.fields
            ),
        )

    @classmethod
    def of(
        cls,
        *,
        code: str,
        title: str,
        path: Iterable[str],
        fields: Iterable[FieldLike],
        public: bool,
    ) -> Entry:
        return cls(code, title, tuple(path), tuple(Field.of(f) for f in fields), public)


@dataclass(frozen=True)
class PresentOptions:
    """The channels' limits; the service reads them from settings (``ZHIKU_SMS_*`` …)."""

    sms_segment_chars: int = 70  # one UCS-2 SMS
    sms_max_segments: int = 3  # 0: no limit
    wechat_max_bytes: int = 2048  # official-account text message, UTF-8
    voice_max_chars: int = 300  # 0: no limit
    public_url: str = ""  # base URL of the customer FAQ, for "the full answer is at …"

    def full_answer_url(self, entry: Entry) -> str | None:
        """The customer page of ``entry``, when there is one and the service knows its URL."""
        if not entry.public or not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}/faq/tables/{entry.code}"


@dataclass(frozen=True)
class Rendering:
    channel: OutputChannel
    text: str  # what is copied or sent
    parts: tuple[str, ...] = field(default=())  # SMS segments; the text as one part otherwise
    truncated: bool = False  # shortened to the channel's limit (with a pointer to the rest)
    html: str | None = None  # web only

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "text": self.text,
            "parts": list(self.parts),
            "truncated": self.truncated,
            "html": self.html,
        }


class _PresentSettings(Protocol):
    @property
    def public_url(self) -> str: ...

    @property
    def sms_max_segments(self) -> int: ...

    @property
    def wechat_max_bytes(self) -> int: ...

    @property
    def voice_max_chars(self) -> int: ...


def options_from(settings: _PresentSettings) -> PresentOptions:
    """The channels' limits from the service's settings (``ZHIKU_SMS_MAX_SEGMENTS`` …)."""
    return PresentOptions(
        sms_max_segments=settings.sms_max_segments,
        wechat_max_bytes=settings.wechat_max_bytes,
        voice_max_chars=settings.voice_max_chars,
        public_url=settings.public_url,
    )
