"""Entry point of the ``kb`` command."""

from __future__ import annotations

import typer

from cli import (
    admin_cmds,
    content_cmds,
    eval_cmds,
    loop_cmds,
    review_cmds,
    search_cmds,
    serve_cmds,
)
from cli.context import ZhikuGroup

app = typer.Typer(
    cls=ZhikuGroup,
    help="知库 Zhiku: knowledge base and answer assistant for Chinese customer service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    admin_cmds,
    content_cmds,
    search_cmds,
    eval_cmds,
    review_cmds,
    loop_cmds,
    serve_cmds,
):
    module.register(app)


if __name__ == "__main__":
    app()
