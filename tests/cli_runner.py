"""Run ``contentcloud`` as the console script does, inside click's ``CliRunner``.

``main()`` turns a ``ContentcloudError`` into one ``error: …`` line and an exit code; invoking the
``cli`` group directly would skip that, so tests go through this wrapper to see what users see.
"""

from __future__ import annotations

from collections.abc import Mapping

import click
from click.testing import CliRunner, Result


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}
)
@click.pass_context
def _entry(ctx: click.Context) -> None:
    from contentcloud.cli import main

    main(list(ctx.args))


def run_cli(*args: str, env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(_entry, list(args), env=dict(env or {}), catch_exceptions=False)
