"""Knowledge going out: one presenter per output channel, used by the API, the pages and the CLI.

The index and the database hand over data (field values with their type, label and audience;
snippets with the spans that matched); presenters decide how that reads in each channel:

- ``agent``: the whole entry, internal fields included, as plain text;
- ``web``: the standard answer as sanitized Markdown and HTML;
- ``sms``: plain text without markup or links a handset cannot open, in 70-character segments,
  cut at a sentence with a pointer to the full answer past the configured number of segments;
- ``wechat``: an official-account text message (plain text, a byte limit);
- ``voice``: sentences a speech engine reads well (:mod:`presenters.voice`).

Page formats of a single field (plain, Markdown, HTML) are in :mod:`presenters.fields`.
"""

from __future__ import annotations

from collections.abc import Callable

from presenters.base import Entry, Field, OutputChannel, PresentOptions, Rendering, options_from
from presenters.channels import agent, sms, web, wechat
from presenters.scripts import to_traditional
from presenters.voice import voice

Presenter = Callable[[Entry, PresentOptions], Rendering]

PRESENTERS: dict[OutputChannel, Presenter] = {
    OutputChannel.AGENT: agent,
    OutputChannel.WEB: web,
    OutputChannel.SMS: sms,
    OutputChannel.WECHAT: wechat,
    OutputChannel.VOICE: voice,
}


def present(
    entry: Entry,
    channel: OutputChannel | str,
    options: PresentOptions | None = None,
    *,
    traditional: str | None = None,
) -> Rendering:
    """``entry`` rendered for ``channel``; ``traditional``: an OpenCC variant to convert to first
    (conversion comes before the channel's limits: a converted text may be longer)."""
    if traditional:
        variant = traditional
        entry = entry.converted(lambda text: to_traditional(text, variant))
    return PRESENTERS[OutputChannel(channel)](entry, options or PresentOptions())


def present_all(
    entry: Entry, options: PresentOptions | None = None, *, traditional: str | None = None
) -> dict[str, Rendering]:
    """Every channel's rendering of ``entry``, keyed by channel name."""
    if traditional:
        variant = traditional
        entry = entry.converted(lambda text: to_traditional(text, variant))
    return {c.value: present(entry, c, options) for c in OutputChannel}


__all__ = [
    "PRESENTERS",
    "Entry",
    "Field",
    "OutputChannel",
    "PresentOptions",
    "Rendering",
    "options_from",
    "present",
    "present_all",
]
