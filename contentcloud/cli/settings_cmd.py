"""``contentcloud settings show``."""

from __future__ import annotations

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.output import print_json, print_table


@click.group("settings")
def settings_group() -> None:
    """Show the effective settings."""


@settings_group.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Each setting, its value (passwords masked) and its origin (flag, env:NAME, default)."""
    rows = settings_from(ctx).describe()
    if as_json:
        print_json({name: {"value": value, "origin": origin} for name, value, origin in rows})
    else:
        print_table(["setting", "value", "origin"], rows)
