"""``contentcloud settings show``."""

from __future__ import annotations

import click

from contentcloud.cli.context import settings_from
from contentcloud.cli.output import print_json, print_table
from contentcloud.settings import setting_fields


@click.group("settings")
def settings_group() -> None:
    """Show the effective settings."""


def _show_help() -> str:
    """The command's help, then every setting with its environment variable and what it is for,
    from the one declaration (the epilog holds the examples)."""
    lines = [
        "Each setting, its value (passwords masked) and its origin (flag, env:NAME, default).",
        "",
        "\b",
        "Settings (environment variable: meaning):",
    ]
    lines += [f"  {f.name} ({f.env}): {f.help}" for f in setting_fields()]
    return "\n".join(lines)


@settings_group.command(help=_show_help())
@click.option("--json", "as_json", is_flag=True, help="Also give each setting's variable and meaning.")
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    rows = settings_from(ctx).describe()
    if as_json:
        about = {f.name: f for f in setting_fields()}
        print_json(
            {
                name: {"value": value, "origin": origin, "env": about[name].env, "help": about[name].help}
                for name, value, origin in rows
            }
        )
    else:
        print_table(["setting", "value", "origin"], rows)
