"""Custom generators by the class name a generator policy gives (``generatorClass``).

Built-ins are the reference engine's ``gr.forth.*`` classes ported in :mod:`.custom`. Outside
packages add their own under any name through the ``contentcloud.x3ml_generators`` entry-point
group (a class following :class:`~transforms.x3ml.generators.custom.CustomGenerator`).
"""

from __future__ import annotations

from typing import Any

from mdstore.plugins import Registry

__all__ = ["CUSTOM_GENERATORS"]


def _is_generator_class(obj: Any) -> bool:
    return isinstance(obj, type) and all(
        callable(getattr(obj, name, None)) for name in ("set_arg", "get_value", "get_value_type")
    )


CUSTOM_GENERATORS: Registry[Any] = Registry(
    "x3ml custom generator", group="contentcloud.x3ml_generators", check=_is_generator_class
)

for _name in (
    "URIorUUID",
    "RemoveTerm",
    "ConcatMultipleTerms",
    "TypedLiteralGenerator",
    "TextualContent",
    "UriExistingOrNew",
    "MultiHashingGenerator",
    "BMdates",
    "DateNormalizer",
    "DateRangeLabel",
    "GermanDate",
    "AuthorityPrirefThingCounter",
):
    CUSTOM_GENERATORS.register(f"gr.forth.{_name}", f"transforms.x3ml.generators.custom:{_name}")
