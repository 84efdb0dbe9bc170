"""Stateless, signed resumption tokens (OAI-PMH flow control, spec section 3.5).

A token carries everything needed to produce the next page: the verb and list arguments, the
publisher snapshot it reads (so a harvest sees one consistent state however long it takes), the
keyset position in the list's stable sort ``(datestamp, id)`` (never an offset, so deep pages cost
what page one costs), the cursor, the complete list size and its expiry. The server keeps no
session: any worker of any process answers any token. An HMAC-SHA256 over the payload (keyed by
the ``oai_secret`` setting) makes forged or altered tokens ``badResumptionToken``.

Form: ``base64url(json payload) "." base64url(mac[:18])`` — only URL-safe characters, so the token
needs no escaping in a query string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from provision.oai.errors import BadResumptionToken

MAC_BYTES = 18
MAX_TOKEN_LENGTH = 2048
_DOMAIN = b"contentcloud-oai-token-v1\x00"
_LIST_VERBS = ("ListIdentifiers", "ListRecords", "ListSets")


@dataclass(frozen=True)
class TokenState:
    """What a token encodes: the list (verb + arguments), the snapshot and the position in it."""

    verb: str
    prefix: str | None
    set_spec: str | None
    from_: str | None  # the argument text as given (granularity kept for the echo)
    until: str | None
    snapshot: int
    nonce: str
    after: tuple[str, ...]  # keyset position: (datestamp, id) for records, (spec,) for sets
    cursor: int
    total: int
    expires: int  # epoch seconds

    def _payload(self) -> list:
        return [
            1,
            self.verb,
            self.prefix,
            self.set_spec,
            self.from_,
            self.until,
            self.snapshot,
            self.nonce,
            list(self.after),
            self.cursor,
            self.total,
            self.expires,
        ]

    @property
    def expiration(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    """Encode and verify tokens with one secret; ``lifetime`` sets each token's expirationDate."""

    def __init__(self, secret: bytes, lifetime: timedelta = timedelta(hours=25)) -> None:
        if not secret:
            raise ValueError("the resumption-token secret must not be empty")
        self._secret = secret
        self.lifetime = lifetime

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]

    def expiry(self, now: datetime) -> int:
        """The expiry (epoch seconds) of a token issued at ``now``."""
        return int((now + self.lifetime).timestamp())

    def encode(self, state: TokenState) -> str:
        payload = json.dumps(state._payload(), separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, now: datetime) -> TokenState:
        """The state of a genuine, unexpired token, else :class:`BadResumptionToken`."""
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise BadResumptionToken("the resumptionToken is not one this repository issued")
        body, _, mac = token.partition(".")
        try:
            payload, given_mac = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise BadResumptionToken("the resumptionToken is not one this repository issued") from None
        if (
            _b64(payload) != body
            or _b64(given_mac) != mac
            or not hmac.compare_digest(given_mac, self._mac(payload))
        ):
            raise BadResumptionToken("the resumptionToken is not one this repository issued (bad signature)")
        state = _state_from(payload)
        if state.expires <= now.timestamp():
            raise BadResumptionToken(f"the resumptionToken expired at {state.expiration:%Y-%m-%dT%H:%M:%SZ}")
        return state


def _state_from(payload: bytes) -> TokenState:
    """Rebuild a state from a signed payload; shapes are still checked (defence in depth)."""
    try:
        data = json.loads(payload)
        (version, verb, prefix, set_spec, from_, until, snapshot, nonce, after, cursor, total, expires) = data
        if version != 1 or verb not in _LIST_VERBS:
            raise ValueError("unknown token version or verb")
        for value in (prefix, set_spec, from_, until):
            if value is not None and not isinstance(value, str):
                raise ValueError("argument is not text")
        if not (
            isinstance(after, list) and all(isinstance(a, str) for a in after) and isinstance(nonce, str)
        ):
            raise ValueError("bad position")
        for number in (snapshot, cursor, total, expires):
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                raise ValueError("bad number")
    except (ValueError, TypeError) as exc:
        raise BadResumptionToken("the resumptionToken is malformed") from exc
    return TokenState(
        verb, prefix, set_spec, from_, until, snapshot, nonce, tuple(after), cursor, total, expires
    )
