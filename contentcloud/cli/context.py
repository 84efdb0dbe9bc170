"""What every command needs from the group: the settings, the store, the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from contentcloud.settings import Settings, load_settings

if TYPE_CHECKING:
    from contentcloud.datasources import DatasourceRegistry
    from mdstore import MDStore


def settings_from(ctx: click.Context) -> Settings:
    """Settings built once per invocation from the group's flags (flags > env > defaults)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    if "settings" not in obj:
        obj["settings"] = load_settings(
            {"mdstore": obj.get("mdstore"), "index": obj.get("index"), "registry": obj.get("registry")}
        )
        root.obj = obj
    return obj["settings"]


def open_store_from(ctx: click.Context) -> MDStore:
    from mdstore import open_store

    settings = settings_from(ctx)
    return open_store(settings.mdstore, **settings.store_options())


def registry_from(ctx: click.Context) -> DatasourceRegistry:
    from contentcloud.datasources import DatasourceRegistry

    return DatasourceRegistry(settings_from(ctx).registry)
