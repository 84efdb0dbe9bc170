"""The contract of an HTTP connector, and the parameter checking every connector shares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from harvesters.base import HarvestOptions, Page
from harvesters.transport import Transport
from mdstore.errors import ConfigError


@dataclass(frozen=True)
class ConnectorContext:
    """What every connector gets: the URL, the shared transport, who it harvests for."""

    url: str
    transport: Transport
    datasource: str
    options: HarvestOptions


class Connector(Protocol):
    """Turns one HTTP source into pages of records; ``params`` is the profile's ``api.params``."""

    #: parameter name → default (``REQUIRED`` for none); unknown names are refused
    PARAMS: ClassVar[Mapping[str, Any]]

    def __init__(self, context: ConnectorContext, params: Mapping[str, Any]) -> None: ...

    def pages(self, resume: Mapping[str, Any] | None) -> Iterator[Page]: ...


REQUIRED = object()


def check_params(
    connector: str, declared: Mapping[str, Any], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The connector's parameters with defaults filled in; unknown or missing ones are config errors."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for connector {connector!r} (known: "
            f"{', '.join(sorted(declared))})",
            field=f"api.params.{unknown[0]}",
            rule="connector",
        )
    values = {}
    for name, default in declared.items():
        if name in given:
            values[name] = given[name]
        elif default is REQUIRED:
            raise ConfigError(
                f"connector {connector!r} needs the parameter {name!r}",
                field=f"api.params.{name}",
                rule="required",
            )
        else:
            values[name] = default
    return values


def is_connector(obj: Any) -> bool:
    return isinstance(obj, type) and callable(getattr(obj, "pages", None)) and hasattr(obj, "PARAMS")
