"""The ``x3ml`` step: an adapter from the chain to the X3ML engine in :mod:`transforms.x3ml`.

The engine owns the language; this module only loads mappings once per run and hands each record
to them. Profile fields: ``mapping`` (one file or a list, merged in order), ``policy`` (generator
policy), ``terms`` (SKOS terminology for ``exact_match``/``broader``), ``legacy_shorten`` (the
1.9.x URI shortening, to reproduce historical PARTHENOS URIs), ``uuid_mode`` (``reproducible``, the
default: UUIDs derived from the record id and the source path, so a re-run yields the same RDF;
``random`` or ``test`` for checks) and ``uuid_test_size``.

The record's tree goes to the engine as parsed by the chain's hardened parser; the result leaves
as N-Triples text, the cheapest form to hand on (the chain converts only if the profile asks for
another serialization). Per-entity warnings of the engine (an empty value dropped an entity)
are added to ``context.warnings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mdstore.errors import ConfigError, ContentcloudError, MappingError, RecordError
from transforms.payload import Payload, RecordContext
from transforms.registry import BuildContext

logger = logging.getLogger(__name__)

UUID_MODES = ("reproducible", "random", "test")


def load_engine() -> Any:
    """The X3ML engine's ``X3MLMapping`` class (a function, so tests can substitute an engine)."""
    try:
        from transforms.x3ml import X3MLMapping
    except ImportError as exc:
        raise ConfigError(
            f"the X3ML engine (transforms.x3ml) is not available: {exc}", field="type", rule="plugin"
        ) from exc
    return X3MLMapping


class X3mlStep:
    kind = "x3ml"

    def __init__(
        self,
        mapping: Any,
        *,
        paths: list[Path],
        policy: Path | None,
        terms: Path | None,
        uuid_mode: str = "reproducible",
        uuid_test_size: int | None = None,
    ) -> None:
        self._mapping = mapping
        self.paths = paths
        self.uuid_mode = uuid_mode
        self.uuid_test_size = uuid_test_size
        self.label = "x3ml " + ",".join(p.name for p in paths)
        self.sources = tuple(str(p) for p in [*paths, policy, terms] if p is not None)

    @property
    def mapping(self) -> Any:
        """The loaded ``X3MLMapping`` (the curator's coverage reads its XPaths)."""
        return self._mapping

    @classmethod
    def from_config(cls, config: Mapping[str, Any], context: BuildContext) -> X3mlStep:
        names = config.get("mapping")
        if isinstance(names, str):
            names = [names]
        if not names or not all(isinstance(n, str) for n in names):
            raise ConfigError(
                "an x3ml step needs 'mapping': a file or a list of files", field="mapping", rule="required"
            )
        paths = [context.resolve(n) for n in names]
        policy = context.resolve(config["policy"], field_name="policy") if config.get("policy") else None
        terms = context.resolve(config["terms"], field_name="terms") if config.get("terms") else None
        uuid_mode = str(config.get("uuid_mode", "reproducible"))
        if uuid_mode not in UUID_MODES:
            raise ConfigError(
                f"uuid_mode {uuid_mode!r} is not one of {', '.join(UUID_MODES)}",
                field="uuid_mode",
                rule="enum",
            )
        engine = load_engine()
        label = "x3ml " + ",".join(p.name for p in paths)
        try:
            mapping = engine.load(
                [str(p) for p in paths],
                policy=str(policy) if policy else None,
                terms=str(terms) if terms else None,
                legacy_shorten=bool(config.get("legacy_shorten", False)),
            )
        except MappingError as exc:
            raise MappingError(exc.message, step=exc.step or label, location=exc.location) from exc
        check_loaded(mapping, label=label, policy=policy)
        size = config.get("uuid_test_size")
        return cls(
            mapping,
            paths=paths,
            policy=policy,
            terms=terms,
            uuid_mode=uuid_mode,
            uuid_test_size=int(size) if size is not None else None,
        )

    def apply(self, payload: Payload, context: RecordContext) -> Payload:
        root = payload.tree(step=self.label, record_id=context.record_id).getroot()
        options: dict[str, Any] = {"record_id": context.record_id, "uuid_mode": self.uuid_mode}
        if self.uuid_test_size is not None:
            options["uuid_test_size"] = self.uuid_test_size
        try:
            result = self._mapping.transform(root, **options)
        except RecordError as exc:
            raise type(exc)(
                exc.message,
                record_id=exc.record_id or context.record_id,
                step=exc.step if exc.step and exc.step != "x3ml" else self.label,
                location=exc.location,
            ) from exc
        except ContentcloudError:
            raise
        for warning in getattr(result, "warnings", None) or ():
            context.warnings.append(f"{self.label}: {warning}")
        if context.trace is not None:
            context.trace.setdefault("x3ml", []).append((self, root, getattr(result, "link_triples", {})))
        return Payload.from_text(result.to_ntriples(), "ntriples")


def check_loaded(mapping: Any, *, label: str, policy: Path | None) -> None:
    """Refuse a mapping that cannot work (see :mod:`transforms.x3ml.lint`), before any record.

    An invalid XPath is a ``MappingError`` at its place in the mapping, as a stylesheet that does
    not compile; generators that neither the engine nor the policy define are a ``ConfigError``
    on ``policy``, saying that a policy is needed when none was given: without this check such a
    mapping yields no triples at all, and only per-record warnings say why.
    """
    from transforms.x3ml.lint import invalid_xpaths, missing_generators

    document = getattr(mapping, "document", None)
    if document is None:  # an engine substituted by a test
        return
    invalid = invalid_xpaths(document)
    if invalid:
        first = invalid[0]
        more = f" (and {len(invalid) - 1} more)" if len(invalid) > 1 else ""
        raise MappingError(
            f"invalid XPath in the {first.role}: {first.reason}{more}",
            step=label,
            location=f"{first.where}, xpath {first.expression!r}",
        )
    missing = missing_generators(document, mapping.policy)
    if not missing:
        return
    names = ", ".join(dict.fromkeys(use.name for use in missing))
    first = missing[0].where
    if policy is None:
        raise ConfigError(
            f"{label} uses generators that need a generator policy ({names}, first at {first}) and "
            "no policy is given: name one (policy in the profile's x3ml step, --policy, or the "
            "curator page's policy field)",
            field="policy",
            rule="required",
        )
    raise ConfigError(
        f"the generator policy {policy.name} defines no generator {names} "
        f"(used by {label}, first at {first})",
        field="policy",
        rule="generators",
    )
