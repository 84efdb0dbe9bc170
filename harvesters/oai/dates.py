"""OAI-PMH datestamps (section 3.3.1): two granularities, both UTC.

Servers are lenient in what they send (no ``Z``, ``+00:00``, milliseconds), so parsing is too;
formatting always emits one of the two legal forms, because the server validates ``from``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Literal

Granularity = Literal["YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"]
DAY: Granularity = "YYYY-MM-DD"
SECONDS: Granularity = "YYYY-MM-DDThh:mm:ssZ"

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_datestamp(text: str) -> datetime:
    """A UTC datetime from an OAI datestamp or any ISO-8601 date(time); raises ``ValueError``."""
    text = text.strip()
    if _DATE_ONLY.match(text):
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_datestamp(value: datetime, granularity: str = SECONDS) -> str:
    """``value`` in the repository's granularity (day granularity truncates)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if granularity == DAY:
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_granularity(text: str | None) -> Granularity:
    """Identify's ``granularity``; anything unexpected counts as day granularity (the safe one:
    a coarser ``from`` only re-harvests more)."""
    return SECONDS if text and text.strip() == SECONDS else DAY


def check_date_argument(text: str) -> str:
    """Validate an operator's ``--from``/``--until``; returned unchanged so the server gets it as typed."""
    text = text.strip()
    problem = f"{text!r} is not an OAI-PMH date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)"
    if not (_DATE_ONLY.match(text) or re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", text)):
        raise ValueError(problem)
    try:
        parse_datestamp(text)
    except ValueError as exc:
        raise ValueError(f"{problem}: {exc}") from exc
    return text
