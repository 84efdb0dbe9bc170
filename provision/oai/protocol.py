"""OAI-PMH 2.0 request syntax: verbs, their arguments, datestamps (spec sections 3.1–3.3, 4).

Everything a request can get wrong *syntactically* is decided here, before any data is read,
so the error precedence is one readable function: badVerb, then badArgument (repeated,
illegal, exclusive, missing, malformed values, from/until granularity and order). Data-dependent
conditions (cannotDisseminateFormat, idDoesNotExist, noRecordsMatch …) belong to the app.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree

from provision.oai.errors import BadArgument, BadVerb

#: verb → (required arguments, optional arguments, may take an exclusive resumptionToken)
VERBS: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {
    "Identify": (frozenset(), frozenset(), False),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset(), False),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"}), False),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
    "ListSets": (frozenset(), frozenset(), True),
}
LIST_VERBS = frozenset({"ListIdentifiers", "ListRecords"})

#: metadataPrefixType and setSpecType of OAI-PMH.xsd
PREFIX_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+\Z")
SETSPEC_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*\Z")
#: characters XML 1.0 cannot carry (an argument holding one can never be echoed)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_DAY_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_SECONDS_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z\Z")

GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
MAX_ARGUMENT_LENGTH = 4096


#: identifierType of OAI-PMH.xsd is xs:anyURI; what is echoed in ``<request identifier=…>`` must be
#: one, so the value is checked by the same libxml2 schema type the spec's validators use
_ANY_URI = etree.XMLSchema(
    etree.XML(
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="u" type="xs:anyURI"/>'
        b"</xs:schema>"
    )
)


def is_any_uri(text: str) -> bool:
    """Whether ``text`` is a valid xs:anyURI (an identifier that is not cannot exist here)."""
    element = etree.Element("u")
    element.text = text
    return _ANY_URI.validate(element)


def format_datestamp(value: datetime) -> str:
    """A datestamp at the repository's granularity (seconds, UTC, ``Z``)."""
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


@dataclass(frozen=True)
class DateArg:
    """A from/until argument: its text, granularity and the inclusive bound it stands for."""

    text: str
    day: bool
    bound: str  # the comparable bound in the index's datestamp form (seconds, Z)


def parse_date_arg(name: str, text: str) -> DateArg:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDThh:mm:ssZ`` (spec 3.3.1); a day ``until`` covers the whole day."""
    day_match = _DAY_RE.match(text)
    match = day_match or _SECONDS_RE.match(text)
    if not match:
        raise BadArgument(f"{name} must be {GRANULARITY} or YYYY-MM-DD, got {_quote(text)}")
    parts = [int(p) for p in match.groups()]
    try:
        value = datetime(*parts, tzinfo=UTC)  # type: ignore[misc]
    except ValueError as exc:
        raise BadArgument(f"{name} is not a valid date: {_quote(text)} ({exc})") from None
    if day_match and name == "until":
        value = value + timedelta(days=1) - timedelta(seconds=1)
    return DateArg(text, bool(day_match), format_datestamp(value))


@dataclass(frozen=True)
class OAIRequest:
    """A syntactically valid request: the verb and its arguments (verb excluded)."""

    verb: str
    args: dict[str, str] = field(default_factory=dict)
    from_: DateArg | None = None
    until: DateArg | None = None

    @property
    def token(self) -> str | None:
        return self.args.get("resumptionToken")


def _quote(text: str) -> str:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return repr(shown)


def parse_request(pairs: Sequence[tuple[str, str]]) -> OAIRequest:
    """Check a request's arguments in the spec's order of precedence; raise the first error.

    ``pairs`` keeps repetitions (``verb=A&verb=B``), which are errors in OAI-PMH.
    """
    counts = Counter(name for name, _ in pairs)
    verbs = [value for name, value in pairs if name == "verb"]
    if not verbs:
        raise BadVerb("the verb argument is missing")
    if len(verbs) > 1:
        raise BadVerb("the verb argument is repeated")
    verb = verbs[0]
    if verb not in VERBS:
        raise BadVerb(f"{_quote(verb)} is not an OAI-PMH verb (one of: {', '.join(sorted(VERBS))})")
    required, optional, takes_token = VERBS[verb]
    allowed = required | optional | ({"resumptionToken"} if takes_token else set())
    repeated = sorted(name for name, n in counts.items() if n > 1 and name != "verb")
    if repeated:
        raise BadArgument(f"repeated argument(s): {', '.join(map(_quote, repeated))}")
    illegal = sorted(name for name in counts if name != "verb" and name not in allowed)
    if illegal:
        raise BadArgument(f"illegal argument(s) for {verb}: {', '.join(map(_quote, illegal))}")
    args = {name: value for name, value in pairs if name != "verb"}
    for name, value in args.items():
        if not value:
            raise BadArgument(f"argument {name} is empty")
        if len(value) > MAX_ARGUMENT_LENGTH or _XML_ILLEGAL.search(value):
            raise BadArgument(f"argument {name} has an illegal value")
    if "resumptionToken" in args:
        if len(args) > 1:
            others = ", ".join(sorted(n for n in args if n != "resumptionToken"))
            raise BadArgument(f"resumptionToken is an exclusive argument; also given: {others}")
        return OAIRequest(verb, args)
    missing = sorted(required - set(args))
    if missing:
        raise BadArgument(f"{verb} requires argument(s): {', '.join(missing)}")
    prefix = args.get("metadataPrefix")
    if prefix is not None and not PREFIX_RE.match(prefix):
        raise BadArgument(f"metadataPrefix {_quote(prefix)} has an illegal syntax")
    identifier = args.get("identifier")
    if identifier is not None and not is_any_uri(identifier):
        raise BadArgument(f"identifier {_quote(identifier)} is not a URI")
    set_spec = args.get("set")
    if set_spec is not None and not SETSPEC_RE.match(set_spec):
        raise BadArgument(f"set {_quote(set_spec)} is not a legal setSpec")
    from_ = parse_date_arg("from", args["from"]) if "from" in args else None
    until = parse_date_arg("until", args["until"]) if "until" in args else None
    if from_ and until:
        if from_.day != until.day:
            raise BadArgument("from and until must have the same granularity")
        if from_.bound > until.bound:
            raise BadArgument(f"from ({from_.text}) is later than until ({until.text})")
    return OAIRequest(verb, args, from_, until)
