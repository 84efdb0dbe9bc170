"""The reference engine's custom generators (package ``gr.forth``), ported one class each.

A generator policy names a custom generator by its Java class (``<custom
generatorClass="gr.forth.URIorUUID">``); :mod:`.registry` maps those names to the classes here.
Each instance lives for one value, as in the reference: the engine creates it, calls
:meth:`~CustomGenerator.set_arg` for every ``<set-arg>``, then asks for the value and its type.
``get_value_type`` answers ``"URI"``, ``"UUID"`` (the engine then takes a fresh UUID instead of
the value) or anything else for a literal typed by the entity's single ``<type>``.

Behaviour is kept as the reference has it, quirks included, because mappings in the wild rely on
it: ``RemoveTerm`` treats ``termToRemove`` as a Java regular expression and does not recognise
``yes``; ``UriExistingOrNew`` writes ``null`` for a missing separator; ``ConcatMultipleTerms``
orders its ``text`` arguments as strings (``text10`` before ``text2``).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Protocol

from transforms.x3ml.generators.dates import to_xsd_datetime
from transforms.x3ml.uritemplate import name_uuid
from transforms.x3ml.urivalidator import encode_uri, is_java_uri, is_valid_uri

__all__ = [
    "AuthorityPrirefThingCounter",
    "BMdates",
    "ConcatMultipleTerms",
    "DateNormalizer",
    "DateRangeLabel",
    "CustomGenerator",
    "CustomGeneratorError",
    "GeneratorEnv",
    "GermanDate",
    "MultiHashingGenerator",
    "RemoveTerm",
    "TextualContent",
    "TypedLiteralGenerator",
    "URIorUUID",
    "URIorUUIDLegacy",
    "UriExistingOrNew",
]

SAME_MERGING_DELIMITER = "<SAME_DELIM>"


class CustomGeneratorError(Exception):
    """A custom generator refused its arguments (``CustomGeneratorException``)."""


class GeneratorEnv(Protocol):
    """What the engine offers a custom generator beyond its arguments."""

    #: state that lives for one transformation run, per generator class (e.g. a counter)
    state: dict[str, Any]

    def random_uuid(self) -> str:
        """A random UUID text as ``java.util.UUID.randomUUID()`` gives it (deterministic in the
        reproducible mode)."""


class CustomGenerator(Protocol):
    """The contract of ``X3MLGeneratorPolicy.CustomGenerator``."""

    merge_multiple_values: ClassVar[bool]

    def __init__(self, env: GeneratorEnv) -> None: ...

    def set_arg(self, name: str, value: str) -> None: ...

    def uses_namespace_prefix(self) -> None: ...

    def get_value(self) -> str: ...

    def get_value_type(self) -> str: ...


def _java_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CustomGeneratorError(f"invalid regular expression {pattern!r}: {exc}") from exc


class _Base:
    merge_multiple_values: ClassVar[bool] = False

    def __init__(self, env: GeneratorEnv) -> None:
        self.env = env

    def uses_namespace_prefix(self) -> None:
        """Most generators ignore a prefix (the reference only logs that it is unsupported)."""


class URIorUUID(_Base):
    """The text as a URI when it is (or can be repaired into) an absolute URI, else a UUID."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.text: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if name != "text":
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")
        self.text = value

    def get_value(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        return encode_uri(self.text)[0]

    def get_value_type(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        return "URI" if is_valid_uri(self.text) else "UUID"


class URIorUUIDLegacy(URIorUUID):
    """URIorUUID as engines up to 1.8.2 had it: the text, unchanged, is a URI when
    ``java.net.URL`` knows its protocol (http, https, ftp, file, jar, mailto) or it starts with
    ``urn:``/``URN:``; anything else (``hdl:…`` included) becomes a UUID."""

    def get_value(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        return self.text

    def get_value_type(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        text = self.text
        if text.startswith(("URN:", "urn:")):
            return "URI"
        scheme, colon, _ = text.partition(":")
        if (
            colon
            and scheme.lower() in ("http", "https", "ftp", "file", "jar", "mailto")
            and is_java_uri(text)
        ):
            return "URI"
        return "UUID"


class RemoveTerm(_Base):
    """The text with a term (a regular expression) removed once or everywhere."""

    merge_multiple_values = True

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.contains_prefix = False
        self.text: str | None = None
        self.term_to_remove: str | None = None
        self.remove_all = False

    def set_arg(self, name: str, value: str) -> None:
        if name == "termToRemove":
            self.term_to_remove = value
        elif name == "text":
            self.text = value
        elif name == "removeAllOccurrences":
            # the reference compares the lower-cased value with "YES" and "T": only y/true work
            self.remove_all = value.lower() in ("y", "true")
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def uses_namespace_prefix(self) -> None:
        self.contains_prefix = True

    def get_value(self) -> str:
        if not self.text:
            raise CustomGeneratorError("Missing text arguments")
        if self.term_to_remove is None:
            raise CustomGeneratorError("Missing termToRemove argument")
        regex = _java_regex(self.term_to_remove)
        return regex.sub("", self.text, count=0 if self.remove_all else 1)

    def get_value_type(self) -> str:
        if self.contains_prefix:
            return "URI"
        return "URI" if is_valid_uri(self.get_value()) else "Literal"


class ConcatMultipleTerms(_Base):
    """``prefix`` + the non-empty ``text*`` arguments joined by ``diffTermsDelim``; repeated values
    of one argument joined by ``sameTermsDelim``. A URI when the prefix starts with ``http:``."""

    merge_multiple_values = True

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.prefix: str | None = None
        self.same_delim: str | None = None
        self.diff_delim: str | None = None
        self.texts: dict[str, str] = {}

    def set_arg(self, name: str, value: str) -> None:
        if name == "prefix":
            self.prefix = value
        elif name.startswith("sameTermsDelim"):
            self.same_delim = value
        elif name.startswith("diffTermsDelim"):
            self.diff_delim = value
        elif name.startswith("text"):
            self.texts[name] = value
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def get_value(self) -> str:
        if not self.texts:
            raise CustomGeneratorError("Missing text arguments")
        parts = [self.texts[key] for key in sorted(self.texts) if self.texts[key]]
        if not parts:
            raise CustomGeneratorError(
                "No value has been generated for custom generator gr.forth.ConcatMultipleTerms "
                "because all values are missing"
            )
        if self.diff_delim is None:
            raise CustomGeneratorError("Missing diffTermsDelim argument")
        value = self.diff_delim.join(parts)
        if SAME_MERGING_DELIMITER in value:
            if self.same_delim is None:
                raise CustomGeneratorError("Missing sameTermsDelim argument")
            value = value.replace(SAME_MERGING_DELIMITER, self.same_delim)
        return ("null" if self.prefix is None else self.prefix) + value

    def get_value_type(self) -> str:
        return "URI" if self.prefix is not None and self.prefix.startswith("http:") else "Literal"


class TypedLiteralGenerator(_Base):
    """The text as a literal typed by the entity's type."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.text: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if name != "text":
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")
        self.text = value

    def get_value(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        return self.text

    def get_value_type(self) -> str:
        return "Literal"


class TextualContent(_Base):
    """A ``URN:UUID:`` IRI from the name-based UUID of the text: the same text, the same IRI."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.text: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if not name.startswith("text"):
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")
        self.text = name_uuid(value)

    def get_value(self) -> str:
        if not self.text:
            raise CustomGeneratorError("Missing text arguments")
        return self.text

    def get_value_type(self) -> str:
        return "URI"


class UriExistingOrNew(_Base):
    """The ``uri`` argument when it is a valid URI, else ``text1`` + ``uri_separator1`` + …"""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.contains_prefix = False
        self.uri: str | None = None
        self.separators: dict[str, str] = {}
        self.texts: dict[str, str] = {}

    def set_arg(self, name: str, value: str) -> None:
        if name.lower() == "uri":
            self.uri = value
        elif name.startswith("text"):
            self.texts[name] = value
        elif name.startswith("uri_separator"):
            self.separators[name] = value
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def uses_namespace_prefix(self) -> None:
        self.contains_prefix = True

    def get_value(self) -> str:
        if self.uri is None and not self.texts:
            raise CustomGeneratorError("Missing text and uri arguments")
        if len(self.texts) > 1 and len(self.texts) != len(self.separators):
            raise CustomGeneratorError(
                "Some URI separators are missing. (# texts should be equals with # URI separators)"
            )
        if self.uri is not None and is_valid_uri(self.uri):
            return encode_uri(self.uri)[0]
        value = "".join(
            _java_str(self.texts.get(f"text{i + 1}"))
            + _java_str(self.separators.get(f"uri_separator{i + 1}"))
            for i in range(len(self.texts))
        )
        return encode_uri(value)[0]

    def get_value_type(self) -> str:
        if not self.texts:
            raise CustomGeneratorError("Missing text argument")
        return "URI"


def _java_str(value: str | None) -> str:
    return "null" if value is None else value


class MultiHashingGenerator(_Base):
    """Arguments joined by ``/``: ``*_HASHED_CONTENTS`` as upper-case name-based UUIDs,
    ``*_RANDOM_UUID`` as random UUIDs, the rest as given."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.parts: list[str] = []

    def set_arg(self, name: str, value: str) -> None:
        if name.endswith("_HASHED_CONTENTS"):
            self.parts.append(name_uuid(value).upper())
        elif name.endswith("_RANDOM_UUID"):
            self.parts.append(self.env.random_uuid().upper())
        else:
            self.parts.append(value)

    def get_value(self) -> str:
        if not self.parts:
            raise CustomGeneratorError("no arguments")
        return "/".join(self.parts)

    def get_value_type(self) -> str:
        return "URI"


class _DateGenerator(_Base):
    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.text: str | None = None
        self.bound: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if name == "text":
            self.text = value
        elif name == "bound":
            if value not in ("Upper", "Lower"):
                raise ValueError(f"No enum constant Bounds.{value}")
            self.bound = value
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def get_value(self) -> str:
        if self.text is None:
            raise CustomGeneratorError("Missing text argument")
        if self.bound is None:
            raise CustomGeneratorError("Missing bounds argument")
        return to_xsd_datetime(self.text, self.bound)

    def get_value_type(self) -> str:
        return "URI" if (self.text or "").startswith("http") else "Literal"


class BMdates(_DateGenerator):
    """A date text at its lower or upper bound as ``xsd:dateTime`` (British Museum dates)."""


class GermanDate(_DateGenerator):
    """The same date interpretation as :class:`BMdates`, under the name the coin mappings use."""


class DateNormalizer(_DateGenerator):
    """Like :class:`BMdates`, with ``report``: ``Date_and_Time`` for an ``xsd:dateTime``,
    ``Date`` (or nothing) for the date alone."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.report: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if name == "report":
            if value not in ("Date", "Date_and_Time"):
                raise ValueError(f"No enum constant TimeDateLevel.{value}")
            self.report = value
        else:
            super().set_arg(name, value)

    def get_value(self) -> str:
        if self.text is None:
            raise CustomGeneratorError('Missing "text" argument')
        if self.bound is None:
            raise CustomGeneratorError('Missing "bound" argument')
        return to_xsd_datetime(self.text, self.bound, with_time=self.report == "Date_and_Time")


class DateRangeLabel(_Base):
    """``date1 - date2``, or the one that is given, or the date when both are the same."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.date1 = ""
        self.date2 = ""

    def set_arg(self, name: str, value: str) -> None:
        if name == "date1":
            self.date1 = value
        elif name == "date2":
            self.date2 = value
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def get_value(self) -> str:
        if self.date1.lower() == self.date2.lower():
            return self.date1
        if self.date1 and self.date2:
            return f"{self.date1} - {self.date2}"
        return self.date1 or self.date2

    def get_value_type(self) -> str:
        return "Literal"


class AuthorityPrirefThingCounter(_Base):
    """``authority/priref/thing/n``: ``n`` counts up while priref and thing repeat and restarts
    at 1 when either changes. The count lives for one run (process-wide in the reference)."""

    def __init__(self, env: GeneratorEnv) -> None:
        super().__init__(env)
        self.authority: str | None = None
        self.priref: str | None = None
        self.thing: str | None = None

    def set_arg(self, name: str, value: str) -> None:
        if name == "authority":
            self.authority = value
        elif name == "priref":
            self.priref = value
        elif name == "thing":
            self.thing = value
        else:
            raise CustomGeneratorError(f"Unrecognized argument name: {name}")

    def get_value(self) -> str:
        if self.authority is None or self.priref is None or self.thing is None:
            raise CustomGeneratorError("Missing text argument")
        state = self.env.state
        if state.get("counter", 0) == 0:
            state["priref"], state["thing"] = self.priref, self.thing
        if state["priref"] == self.priref and state["thing"] == self.thing:
            state["counter"] = state.get("counter", 0) + 1
        else:
            state["counter"] = 1
            state["priref"], state["thing"] = self.priref, self.thing
        return f"{self.authority}/{self.priref}/{self.thing}/{state['counter']}"

    def get_value_type(self) -> str:
        return "URI"
