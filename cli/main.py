"""Entry point of the ``kb`` command.

Commands are loaded when they are used: ``kb --help`` imports none of them (their modules pull
in SQLAlchemy, numpy, faiss, jieba, FastAPI or the eval stack), so it answers at once; ``kb
search`` imports only :mod:`cli.search_cmds`. The one-line help of each command is kept here
for the command list; ``tests/cli/test_startup.py`` checks it against the command's docstring.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from importlib import import_module
from typing import Any

import typer
from typer._click.core import Command, Context
from typer.core import TyperCommand

from cli.context import ZhikuGroup

# name → (module that registers it, its one-line help), in the order `kb --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cli.admin_cmds", "Create the database schema."),
    "stats": ("cli.admin_cmds", "Counts per level of the hierarchy and per revision state."),
    "category": ("cli.admin_cmds", "Categories (知识大类): rename."),
    "package": ("cli.admin_cmds", "Packages (知识包): rename."),
    "import": (
        "cli.content_cmds",
        "Import knowledge from files, all or nothing (tables matched by code).",
    ),
    "export": (
        "cli.content_cmds",
        "Write the knowledge base as a content directory (the format of `kb import`).",
    ),
    "demo-load": (
        "cli.content_cmds",
        "Load demo content (what `make run` uses to fill a fresh database).",
    ),
    "search": ("cli.search_cmds", "Suggested answers for a question, best first, with confidence."),
    "hit-test": (
        "cli.hittest_cmds",
        "Test one query against your KB with exactly the production search path and settings.",
    ),
    "draft": (
        "cli.review_cmds",
        "Write a draft: a new table, an edit of your open draft, or a new draft of a live table.",
    ),
    "submit": (
        "cli.review_cmds",
        "Send your draft to review (checked against the template; near-duplicates are warned "
        "about).",
    ),
    "approve": (
        "cli.review_cmds",
        "Approve the revision in review: it goes live now (or --at a later time, via the sweep).",
    ),
    "reject": ("cli.review_cmds", "Send the revision in review back to its author with a comment."),
    "withdraw": (
        "cli.review_cmds",
        "Take your revision back from review (or cancel its scheduled publication) to edit it.",
    ),
    "archive": (
        "cli.review_cmds",
        "Take a live table out of service (it leaves search at once; history is kept).",
    ),
    "rollback": (
        "cli.review_cmds",
        "Start a draft copying an earlier revision; it goes live once reviewed like any other.",
    ),
    "revisions": ("cli.review_cmds", "List a table's revisions with state, author and reviewer."),
    "diff": ("cli.review_cmds", "Field-by-field differences between two revisions."),
    "verify": (
        "cli.review_cmds",
        "Record that a live table was re-verified; --until extends its validity.",
    ),
    "flag": (
        "cli.review_cmds",
        "Flag a live table for the reviewers (wrong, outdated, unclear, duplicate).",
    ),
    "dismiss": (
        "cli.review_cmds",
        "Dismiss an agent's flag with a comment (fixing or re-verifying the table resolves it "
        "too).",
    ),
    "sweep": (
        "cli.review_cmds",
        "Publish due scheduled revisions and record tables that went stale (the service does "
        "this on a timer).",
    ),
    "audit": (
        "cli.review_cmds",
        "Every recorded action on a table: who, when, what, with comments.",
    ),
    "dashboard": (
        "cli.loop_cmds",
        "Searches per day, abstention and helpful rates, top queries, stale-but-used tables.",
    ),
    "serve": (
        "cli.serve_cmds",
        "Serve the HTTP API and the web pages: / (FAQ), /agent, /admin, /docs.",
    ),
    "index": ("cli.search_cmds", "Build and inspect the search index."),
    "eval": (
        "cli.eval_cmds",
        "Benchmark retrieval on datasets: Recall@k, MRR@10, nDCG@10, latency, per mode.",
    ),
    "user": ("cli.review_cmds", "Users, roles, scopes and API tokens."),
    "review": (
        "cli.review_cmds",
        "Review queues: awaiting review, expiring, expired, flagged, owner digests.",
    ),
    "gaps": ("cli.loop_cmds", "Knowledge gaps: what people asked and did not find."),
    "golden": ("cli.loop_cmds", "The golden set: logged queries confirmed against their table."),
    "requests": ("cli.request_cmds", "Customers' requests to reach a person, and their answers."),
}


class LazyCommands(MutableMapping[str, Command]):
    """The group's commands: every name known up front, a module imported on first lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, Command] = {}

    def _load(self, name: str) -> None:
        module = import_module(COMMANDS[name][0])
        holder = typer.Typer()
        module.register(holder)
        group = typer.main.get_group(holder)
        for key, command in group.commands.items():
            self._loaded.setdefault(key, command)

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded and name in COMMANDS:
            self._load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._loaded]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._loaded))


class LazyGroup(ZhikuGroup):
    """:class:`ZhikuGroup` whose help lists commands without importing them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands()
        self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if self._listing and cmd_name in COMMANDS:
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyGroup,
    help="知库 Zhiku: knowledge base and answer assistant for Chinese customer service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """知库 Zhiku: knowledge base and answer assistant for Chinese customer service."""


if __name__ == "__main__":
    app()
