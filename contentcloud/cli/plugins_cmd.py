"""``contentcloud plugins list``."""

from __future__ import annotations

import click

from contentcloud.cli.output import print_table


@click.group("plugins")
def plugins_group() -> None:
    """Registered plugins (built-in and from entry points)."""


@plugins_group.command("list")
def list_() -> None:
    """Every kind of plugin and the names registered for it."""
    from contentcloud.plugins import registries

    rows = [(kind, name, target, origin)
            for kind, registry in registries().items() for name, target, origin in registry.describe()]
    print_table(["kind", "name", "target", "origin"], rows)
