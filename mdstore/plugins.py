"""A small plugin registry per kind, after rdflib's ``plugin.register``/``plugin.get``.

Built-ins register lazy ``"module:attr"`` strings in code; outside packages add names through
an entry-point group. Nothing is imported until the first :meth:`Registry.get`, so importing a
registry costs nothing (DAG parsing and ``--help`` stay fast).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from mdstore.errors import PluginError, PluginUnavailable, UnknownPlugin

T = TypeVar("T")


class Registry(Generic[T]):
    """Names → lazily imported plugin objects of one kind.

    ``check`` (optional) validates a loaded object, e.g. that it has the kind's methods.
    """

    def __init__(
        self, kind: str, *, group: str | None = None, check: Callable[[Any], bool] | None = None
    ) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._targets: dict[str, str] = {}
        self._origins: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = group is None

    def register(self, name: str, target: str, *, origin: str = "built-in") -> None:
        """Register ``name`` → ``"module:attr"``; a name registered twice is refused."""
        if name in self._targets:
            raise PluginError(
                f"registered twice: {self._origins[name]} ({self._targets[name]}) and {origin} ({target})",
                kind=self.kind,
                name=name,
            )
        if ":" not in target:
            raise PluginError(
                f"target {target!r} is not of the form 'module:attr'", kind=self.kind, name=name
            )
        self._targets[name] = target
        self._origins[name] = origin

    def names(self, *, in_order: bool = False) -> list[str]:
        """All registered names (built-ins and entry points), sorted; ``in_order``: as registered,
        the built-ins first (so a list shown to a user starts with the default)."""
        self._read_entry_points()
        return list(self._targets) if in_order else sorted(self._targets)

    def schemes(self, aliases: Mapping[str, str] | None = None) -> list[str]:
        """The URI schemes the registered backends serve, in order: each name, or the schemes that
        ``aliases`` (scheme → name) map to it (``solr`` serves ``http`` and ``https``)."""
        aliases = aliases or {}
        out: list[str] = []
        for name in self.names(in_order=True):
            out += [scheme for scheme, target in aliases.items() if target == name] or [name]
        return out

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, "module:attr", origin) for every registered plugin."""
        self._read_entry_points()
        return [(name, self._targets[name], self._origins[name]) for name in sorted(self._targets)]

    def get(self, name: str) -> T:
        """The plugin object for ``name``, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._read_entry_points()
        if name not in self._targets:
            valid = ", ".join(sorted(self._targets)) or "none"
            raise UnknownPlugin(
                f"unknown {self.kind} {name!r}; valid names: {valid}", kind=self.kind, name=name
            )
        module_name, _, attr = self._targets[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = exc.name or module_name
            raise PluginUnavailable(
                f"needs the package {missing!r}, which is not installed (pip install {missing})",
                kind=self.kind,
                name=name,
            ) from exc
        try:
            obj: Any = module
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"{self._targets[name]} does not exist", kind=self.kind, name=name) from exc
        if self._check is not None and not self._check(obj):
            raise PluginError(f"{self._targets[name]} is not a valid {self.kind}", kind=self.kind, name=name)
        self._loaded[name] = obj
        return obj

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in entry_points(group=self.group):
            self.register(ep.name, ep.value, origin=f"entry point {ep.dist.name if ep.dist else '?'}")
