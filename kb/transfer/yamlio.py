"""YAML as content files use it: JSON-like values with the line each value starts on.

Timestamps are not resolved: ``2026-06-30`` stays a string, so every file value is JSON data
that the JSON Schema can check, and :mod:`kb.transfer.dates` gives it its meaning (the settings
zone, end of day for ``valid_until``). The dumper resolves the same way, so what it writes
reads back unchanged.

Content files come from people and uploads: :func:`load` with limits refuses, while composing
and before constructing anything, a document nested too deep (PyYAML's composer recurses:
5,000 levels exhaust Python's stack), one with more aliases than a content file needs, a
recursive alias, or one whose aliases expand it past a node budget (a 500-byte "billion
laughs" file expands to 387 million values; counting them, memoized per node, is instant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from kb.transfer.limits import SETTING, ImportLimits

Path_ = tuple[str | int, ...]
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def _without_timestamps(
    resolvers: dict[Any, list[tuple[str, Any]]],
) -> dict[Any, list[tuple[str, Any]]]:
    return {
        first: [(tag, regexp) for tag, regexp in entries if tag != _TIMESTAMP]
        for first, entries in resolvers.items()
    }


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write them (PyYAML does not by default).
        super().increase_indent(flow, False)


_Loader.yaml_implicit_resolvers = _without_timestamps(yaml.SafeLoader.yaml_implicit_resolvers)
_Dumper.yaml_implicit_resolvers = _without_timestamps(yaml.SafeDumper.yaml_implicit_resolvers)


class Flow(dict[str, Any]):
    """A mapping written on one line: ``{key: answer, label: 标准答复}``."""


class FlowList(list[Any]):
    """A list written on one line: ``[改号, 资费]``."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (markdown answers) reads best as a literal block. PyYAML writes NEL
    # (U+0085) raw in plain and single-quoted scalars and then reads it as a line break;
    # double quotes escape it.
    style = '"' if "\x85" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(
    Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)
_Dumper.add_representer(
    FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


@dataclass
class Loaded:
    data: Any
    lines: dict[Path_, int]  # path of keys/indexes → 1-based line where that value starts

    def line(self, path: Path_) -> int:
        """Line of the value at ``path``, else of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1


class YamlTooLarge(yaml.YAMLError):
    """A document over one of the import limits; ``line`` is where that was noticed (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def load(text: str, limits: ImportLimits | None = None) -> Loaded:
    """Parse one YAML document; raises yaml.YAMLError (with a mark) when it is not YAML.

    With ``limits``, raises :class:`YamlTooLarge` for a document past them, before building it.
    """
    loader = _Loader(text) if limits is None else _BoundedLoader(text, limits)
    try:
        node = loader.get_single_node()
        if limits is not None and node is not None:
            _check_expansion(node, limits)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _record(node, (), lines, set())
    return Loaded(data, lines)


class _BoundedLoader(_Loader):
    """Counts depth and aliases while composing; refuses before recursing past the limits."""

    def __init__(self, text: str, limits: ImportLimits) -> None:
        super().__init__(text)
        self.limits = limits
        self.depth = 0
        self.aliases = 0
        self.open_anchors: list[str | None] = []  # of the collections being composed

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > self.limits.yaml_aliases:
                raise YamlTooLarge(
                    f"more than {self.limits.yaml_aliases} aliases (*name), the limit "
                    f"({SETTING['yaml_aliases']}); write the values out instead",
                    line,
                )
            if event.anchor in self.open_anchors:
                raise YamlTooLarge(
                    f"alias *{event.anchor} refers to a list or mapping that contains it "
                    "(a recursive alias); write the values out instead",
                    line,
                )
            return super().compose_node(parent, index)
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > self.limits.yaml_depth:
            raise YamlTooLarge(
                f"lists and mappings are nested more than {self.limits.yaml_depth} deep, the "
                f"limit ({SETTING['yaml_depth']})",
                line,
            )
        self.open_anchors.append(event.anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.open_anchors.pop()
            self.depth -= 1


def _check_expansion(root: yaml.Node, limits: ImportLimits) -> None:
    """Refuse a document whose aliases expand it past ``yaml_nodes`` values (counted, not built)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                total += size(key) + size(value)
                if total > limits.yaml_nodes:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > limits.yaml_nodes:
                    break
        sizes[id(node)] = total
        return total

    if size(root) > limits.yaml_nodes:
        raise YamlTooLarge(
            f"with its aliases (*name) expanded the document holds more than "
            f"{limits.yaml_nodes:,} values, the limit ({SETTING['yaml_nodes']}); write the "
            "values out instead of repeating them through aliases",
            root.start_mark.line + 1,
        )


def _record(node: yaml.Node, path: Path_, lines: dict[Path_, int], active: set[int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in active:  # a recursive alias
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                # The key's line: a value that is a block sits on the lines after it.
                lines.setdefault((*path, key_node.value), key_node.start_mark.line + 1)
                _record(value_node, (*path, key_node.value), lines, active)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), lines, active)
    active.discard(id(node))


def dump(data: Any) -> str:
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=4096,
        default_flow_style=False,
    )
    return text
