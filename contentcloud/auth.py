"""Authentication for the pages that run user input or change state (the curator pages, and any
write or admin page mounted later): accounts, API tokens, signed session cookies and CSRF tokens.

What is stored where:

* **Passwords** never appear anywhere in clear. A user is a setting entry
  ``name:scrypt:<n>:<r>:<p>:<salt>:<hash>`` (``contentcloud curator hash-password`` makes one):
  scrypt from the standard library, a random 16-byte salt per entry, base64url without padding.
  The format has no ``$``, so it goes into a compose ``.env`` file or a shell unquoted.
* **API tokens** (``Authorization: Bearer …``, for scripts) are random 32-byte strings made by
  ``contentcloud curator new-token``; only their SHA-256 is stored (``name:sha256:<hex>``): a
  token is a full-entropy key, so a fast hash leaves nothing to brute-force.
* **Sessions** are stateless signed cookies (HMAC-SHA256 under the session key, the
  ``session_secret`` setting or one generated once into ``var/session_secret`` like the OAI token
  key): user, expiry, a per-session CSRF token and a fingerprint of the user's stored hash, so
  changing a password or removing a user ends that user's sessions in every worker. Stateless
  because gunicorn workers share nothing; the price is that logout clears the browser's cookie
  but a copied cookie stays valid until it expires (:data:`SESSION_TTL`) unless the key changes.

Requests are classified by :meth:`Authenticator.identify`: a bearer token (no CSRF needed: a
browser never sends it by itself) or a session cookie (every POST must carry the session's CSRF
token). Anonymous requests never reach the page: browsers are redirected to the login page,
scripts get 401, and the body of the request is never read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mdstore.errors import ConfigError

if TYPE_CHECKING:
    from contentcloud.settings import Settings

logger = logging.getLogger(__name__)

SESSION_SECRET_FILE = "session_secret"  # noqa: S105 (a file name, not a secret)
COOKIE_NAME = "contentcloud_session"
#: a session (a login) lasts this long; then the user logs in again
SESSION_TTL = 8 * 3600
#: an anonymous session (the login form's CSRF token) lasts this long
LOGIN_TTL = 3600
#: scrypt cost of new password hashes: 32 MiB and ~0.1-0.2 s per check on one core
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 128 * 1024 * 1024
#: failed logins per client address within :data:`THROTTLE_WINDOW` seconds before 429
THROTTLE_FAILURES = 10
THROTTLE_WINDOW = 600
TOKEN_PREFIX = "cct_"  # noqa: S105 (what every token starts with, not a token)
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_B64 = r"[A-Za-z0-9_-]+"
_PASSWORD_ENTRY = re.compile(rf"^scrypt:(\d+):(\d+):(\d+):({_B64}):({_B64})$")
_TOKEN_ENTRY = re.compile(r"^sha256:([0-9a-f]{64})$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- hashes ----------------------------------------------------------------------------------------


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt:<n>:<r>:<p>:<salt>:<hash>`` of ``password`` with a fresh random salt."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32
    )
    return f"scrypt:{n}:{r}:{p}:{_b64(salt)}:{_b64(derived)}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a stored ``scrypt:…`` hash (constant-time comparison)."""
    found = _PASSWORD_ENTRY.match(stored)
    if not found:
        return False
    n, r, p = (int(found[i]) for i in (1, 2, 3))
    try:
        derived = hashlib.scrypt(
            password.encode("utf-8"), salt=_unb64(found[4]), n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(derived, _unb64(found[5]))


def new_token() -> tuple[str, str]:
    """A new API token and the ``sha256:<hex>`` to store for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- accounts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    """Users (name → scrypt hash) and API tokens (sha256 hex → name) from the settings."""

    users: Mapping[str, str] = field(default_factory=dict)
    tokens: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.users or self.tokens)

    @classmethod
    def parse(cls, entries: Iterable[tuple[str, str]]) -> Accounts:
        """Accounts from ``(where, entry)`` pairs; ``where`` names the setting or file for errors.

        An entry is ``name:scrypt:…`` (a user) or ``name:sha256:<hex>`` (an API token); a bad
        entry is a configuration error naming where it is, never silently skipped.
        """
        users: dict[str, str] = {}
        tokens: dict[str, str] = {}
        for where, entry in entries:
            name, _, secret = entry.partition(":")
            if not NAME.match(name):
                raise ConfigError(
                    "a credential entry is 'name:scrypt:…' or 'name:sha256:…' with a name of letters, "
                    "digits and ._@- (make one with contentcloud curator hash-password or new-token)",
                    file=where,
                    field="curator credentials",
                    rule="format",
                )
            if _PASSWORD_ENTRY.match(secret):
                if name in users:
                    raise ConfigError(
                        f"user {name!r} is listed twice", file=where, field="curator_users", rule="unique"
                    )
                users[name] = secret
            elif _TOKEN_ENTRY.match(secret):
                tokens[secret.split(":", 1)[1]] = name
            else:
                raise ConfigError(
                    f"the entry of {name!r} is neither a scrypt password hash nor a sha256 token hash "
                    "(contentcloud curator hash-password / new-token make them)",
                    file=where,
                    field="curator credentials",
                    rule="format",
                )
        return cls(users, tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> Accounts:
        """The ``curator_users`` and ``curator_tokens`` settings plus the credentials file, if any."""
        entries = [("CONTENTCLOUD_CURATOR_USERS", e) for e in split_entries(settings.curator_users)]
        entries += [("CONTENTCLOUD_CURATOR_TOKENS", e) for e in split_entries(settings.curator_tokens)]
        if settings.curator_credentials_file:
            path = Path(settings.curator_credentials_file)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the credentials file: {exc.strerror}",
                    file=str(path),
                    field="curator_credentials_file",
                    rule="readable",
                ) from None
            lines = (line.split("#", 1)[0] for line in text.splitlines())
            entries += [(str(path), e) for line in lines for e in split_entries(line)]
        return cls.parse(entries)


def split_entries(value: str) -> list[str]:
    """Entries separated by commas, spaces or newlines."""
    return [part for part in re.split(r"[\s,]+", value or "") if part]


# --- the session key -------------------------------------------------------------------------------


def session_secret(settings: Settings) -> bytes:
    """The session-signing key: the ``session_secret`` setting, else one generated once under var/."""
    from contentcloud.web import generated_secret

    if settings.session_secret:
        return settings.session_secret.encode("utf-8")
    return generated_secret(Path(settings.var_dir) / SESSION_SECRET_FILE, "CONTENTCLOUD_SESSION_SECRET")


# --- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who made a request: ``user`` (None: anonymous), how (``session``/``token``) and the
    session's CSRF token (every POST of a session must carry it)."""

    user: str | None
    method: str = "anonymous"
    csrf: str = ""

    @property
    def needs_csrf(self) -> bool:
        return self.method != "token"


class Authenticator:
    """Checks passwords and tokens, signs and reads session cookies, throttles failed logins."""

    def __init__(self, accounts: Accounts, secret: bytes, *, secure_cookies: bool = False) -> None:
        self.accounts = accounts
        self._key = hashlib.sha256(b"contentcloud session\0" + secret).digest()
        self.secure_cookies = secure_cookies
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, accounts: Accounts | None = None) -> Authenticator:
        """Accounts from the settings (or ``accounts``); Secure cookies when the public URL is https."""
        return cls(
            Accounts.from_settings(settings) if accounts is None else accounts,
            session_secret(settings),
            secure_cookies=settings.public_url.lower().startswith("https://"),
        )

    # --- who is asking -------------------------------------------------------------------------
    def identify(self, environ: Mapping[str, object]) -> Identity:
        """The request's identity from its bearer token or session cookie (anonymous if neither
        is valid; a present but wrong bearer token is anonymous too, never a fallback to the cookie)."""
        header = str(environ.get("HTTP_AUTHORIZATION") or "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                name = self.check_token(token.strip())
                if name is not None:
                    return Identity(name, "token")
            return Identity(None, "bad-authorization")
        session = self.read_session(environ)
        if session and session.get("u"):
            return Identity(str(session["u"]), "session", str(session.get("c", "")))
        return Identity(None, "anonymous", str(session.get("c", "")) if session else "")

    def check_token(self, token: str) -> str | None:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        found = None
        for stored, name in self.accounts.tokens.items():  # every entry compared: no early exit
            if hmac.compare_digest(stored, digest):
                found = name
        return found

    def check_login(self, user: str, password: str) -> bool:
        """Whether the user exists and the password matches; an unknown user costs the same scrypt
        run as a known one, so timing does not tell which user names exist."""
        stored = self.accounts.users.get(user)
        if stored is None:
            check_password(password, _DUMMY_HASH)
            return False
        return check_password(password, stored)

    # --- throttling ----------------------------------------------------------------------------
    def throttled(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < THROTTLE_WINDOW]
            self._failures[client] = recent
            if not recent:
                self._failures.pop(client, None)
            return len(recent) >= THROTTLE_FAILURES

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())
            if len(self._failures) > 10_000:  # bounded: forget the oldest clients
                for key in list(self._failures)[:5_000]:
                    del self._failures[key]

    # --- cookies -------------------------------------------------------------------------------
    def _fingerprint(self, user: str) -> str:
        stored = self.accounts.users.get(user, "")
        return hmac.new(self._key, stored.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def sign(self, payload: dict) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        mac = _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def unsign(self, value: str) -> dict | None:
        body, _, mac = value.partition(".")
        if not body or not mac:
            return None
        expected = _b64(hmac.new(self._key, body.encode("ascii", errors="replace"), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, mac):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def read_session(self, environ: Mapping[str, object]) -> dict | None:
        """The valid, unexpired session of the request's cookie, or None."""
        from http.cookies import CookieError, SimpleCookie

        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(str(environ.get("HTTP_COOKIE") or ""))
        except CookieError:
            return None
        morsel = cookies.get(COOKIE_NAME)
        payload = self.unsign(morsel.value) if morsel else None
        if not payload or not isinstance(payload.get("e"), int) or payload["e"] < time.time():
            return None
        user = payload.get("u")
        if user is not None:
            if not isinstance(user, str) or user not in self.accounts.users:
                return None  # the user was removed
            if not hmac.compare_digest(str(payload.get("f", "")), self._fingerprint(user)):
                return None  # the password changed since the login
        return payload

    def new_session(self, user: str | None) -> tuple[str, str]:
        """A fresh session (a new CSRF token, also at login: no session fixation): (cookie value, csrf)."""
        csrf = secrets.token_urlsafe(24)
        payload: dict = {"c": csrf, "e": int(time.time()) + (SESSION_TTL if user else LOGIN_TTL)}
        if user:
            payload["u"] = user
            payload["f"] = self._fingerprint(user)
        return self.sign(payload), csrf

    def cookie_header(
        self, value: str, path: str, *, secure: bool = False, max_age: int | None = None
    ) -> tuple[str, str]:
        """``Set-Cookie``: HttpOnly, SameSite=Strict, scoped to ``path``; Secure when the request
        came over https (``secure``) or the public URL is https (behind a TLS proxy)."""
        parts = [f"{COOKIE_NAME}={value}", f"Path={path or '/'}", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure_cookies or secure:
            parts.append("Secure")
        return ("Set-Cookie", "; ".join(parts))


def csrf_matches(identity: Identity, submitted: str) -> bool:
    """Whether a form's ``csrf_token`` is the session's (constant time; empty never matches)."""
    return bool(identity.csrf) and bool(submitted) and hmac.compare_digest(identity.csrf, submitted)


def secure_request(environ: Mapping[str, object]) -> bool:
    return str(environ.get("wsgi.url_scheme", "http")) == "https"


#: checked when the user does not exist, so that both cases cost one scrypt run
_DUMMY_HASH = "scrypt:32768:8:1:AAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a ``--host`` value) listens on the loopback interface only."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: the user name of the one-time account ``serve`` and ``demo`` make when none is configured
ONE_TIME_USER = "curator"


def serving_authenticator(settings: Settings, host: str) -> tuple[Authenticator, str | None]:
    """The authenticator ``serve`` and ``demo`` use for the curator pages listening on ``host``,
    and the one-time password it made (None when accounts are configured).

    With accounts configured, those. Without any, on a loopback address: a one-time account
    ``curator`` with a random password that lives in this process only (its scrypt hash in
    memory; the caller shows the password once on the terminal), so a fresh checkout works out of
    the box and still no draft runs without a login (other local users, other sites in the
    browser). Without any on another address: a configuration error, since a password printed
    into a server's log is no way to guard a page reachable from the network.
    """
    accounts = Accounts.from_settings(settings)
    if accounts:
        return Authenticator.from_settings(settings, accounts), None
    if not is_loopback(host):
        raise ConfigError(
            f"the curator pages need credentials to listen on {host}: set CONTENTCLOUD_CURATOR_USERS "
            "(contentcloud curator hash-password), listen on 127.0.0.1, or pass --no-curator",
            field="--host",
            rule="credentials",
        )
    password = secrets.token_urlsafe(12)
    accounts = Accounts({ONE_TIME_USER: hash_password(password)}, {})
    return Authenticator.from_settings(settings, accounts), password
