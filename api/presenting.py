"""The API's side of :mod:`presenters`: the ``format`` a route takes and renderings as bodies."""

from __future__ import annotations

from enum import StrEnum

from api import schemas
from presenters import Entry, OutputChannel, PresentOptions, Rendering, present, present_all
from presenters.base import Field
from presenters.fields import Format, render_value


class AnswerFormat(StrEnum):
    """A page format of the answer field, or an output channel's rendering of the answer."""

    PLAIN = "plain"
    MARKDOWN = "markdown"
    HTML = "html"
    AGENT = "agent"
    WEB = "web"
    SMS = "sms"
    WECHAT = "wechat"
    VOICE = "voice"

    @property
    def channel(self) -> OutputChannel | None:
        return None if self.value in {f.value for f in Format} else OutputChannel(self.value)


FORMAT_HELP = (
    "plain, markdown or html (the answer field), or an output channel: agent (the whole entry), "
    "web, sms, wechat, voice"
)


def rendering_out(rendering: Rendering) -> schemas.RenderingOut:
    return schemas.RenderingOut(
        channel=rendering.channel.value,
        text=rendering.text,
        parts=list(rendering.parts),
        truncated=rendering.truncated,
        html=rendering.html,
    )


def answer_in(entry: Entry, fmt: AnswerFormat, options: PresentOptions) -> str:
    """The answer of ``entry`` in ``fmt`` (empty when the channel may not see an answer)."""
    channel = fmt.channel
    if channel is not None:
        return present(entry, channel, options).text
    answer: Field | None = entry.answer
    if answer is None:
        return ""
    return render_value(answer.value, answer.type, Format(fmt.value))


def renderings_out(
    entry: Entry, options: PresentOptions, traditional: str | None = None
) -> dict[str, schemas.RenderingOut]:
    return {
        name: rendering_out(r)
        for name, r in present_all(entry, options, traditional=traditional).items()
    }
