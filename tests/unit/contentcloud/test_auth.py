"""contentcloud.auth: password and token hashes, credential settings, signed sessions, addresses."""

from __future__ import annotations

import hashlib
import time

import pytest
from click.testing import CliRunner

from contentcloud import auth
from contentcloud.auth import Accounts, Authenticator, Identity, check_password, hash_password
from contentcloud.settings import load_settings
from mdstore.errors import ConfigError

FAST = {"n": 2**10}


def test_a_password_hash_is_salted_scrypt_and_checks_only_its_password():
    first, second = hash_password("s3cret-pass", **FAST), hash_password("s3cret-pass", **FAST)
    assert first != second  # a random salt each time
    assert first.startswith("scrypt:1024:8:1:") and "s3cret-pass" not in first
    assert "$" not in first  # safe unquoted in a compose .env file
    assert check_password("s3cret-pass", first)
    assert not check_password("s3cret-pasS", first)
    assert not check_password("s3cret-pass", "plain:s3cret-pass")
    assert not check_password("x", "scrypt:3:8:1:AAAA:AAAA")  # n not a power of two: refused, no crash
    with pytest.raises(ValueError, match="the password is empty"):
        hash_password("")


def test_credential_entries_parse_into_users_and_tokens():
    hashed = hash_password("pw-123456", **FAST)
    digest = hashlib.sha256(b"cct_abc").hexdigest()
    accounts = Accounts.parse([("env", f"alice:{hashed}"), ("env", f"ci:sha256:{digest}")])
    assert accounts.users == {"alice": hashed}
    assert accounts.tokens == {digest: "ci"}
    assert not Accounts.parse([])
    with pytest.raises(ConfigError, match="the entry of 'bob' is neither a scrypt password hash"):
        Accounts.parse([("CONTENTCLOUD_CURATOR_USERS", "bob:plaintext-password")])
    with pytest.raises(ConfigError, match="user 'alice' is listed twice"):
        Accounts.parse([("env", f"alice:{hashed}"), ("env", f"alice:{hashed}")])
    with pytest.raises(
        ConfigError, match="CONTENTCLOUD_CURATOR_USERS: curator credentials: a credential entry"
    ):
        Accounts.parse([("CONTENTCLOUD_CURATOR_USERS", f"a b/c:{hashed}")])


def test_accounts_come_from_the_settings_and_the_credentials_file(tmp_path):
    hashed = hash_password("pw-123456", **FAST)
    digest = hashlib.sha256(b"cct_abc").hexdigest()
    (tmp_path / "creds").write_text(f"# curators\ncarol:{hashed}  # the second\nbot:sha256:{digest}\n")
    settings = load_settings(
        {},
        {
            "CONTENTCLOUD_CURATOR_USERS": f"alice:{hashed}, bob:{hashed}",
            "CONTENTCLOUD_CURATOR_CREDENTIALS_FILE": str(tmp_path / "creds"),
        },
        base_dir=tmp_path,
    )
    accounts = Accounts.from_settings(settings)
    assert sorted(accounts.users) == ["alice", "bob", "carol"]
    assert accounts.tokens == {digest: "bot"}
    rows = {name: (value, origin) for name, value, origin in settings.describe()}
    assert rows["curator_users"] == ("***", "env:CONTENTCLOUD_CURATOR_USERS")
    assert rows["session_secret"] == ("", "default")
    missing = load_settings(
        {}, {"CONTENTCLOUD_CURATOR_CREDENTIALS_FILE": str(tmp_path / "nope")}, base_dir=tmp_path
    )
    with pytest.raises(ConfigError, match="nope: curator_credentials_file: cannot read the credentials file"):
        Accounts.from_settings(missing)


def _authenticator(tmp_path, password: str = "pw-123456") -> Authenticator:
    settings = load_settings({}, {"CONTENTCLOUD_VAR": str(tmp_path / "var")}, base_dir=tmp_path)
    token_digest = hashlib.sha256(b"cct_token").hexdigest()
    return Authenticator.from_settings(
        settings, Accounts({"alice": hash_password(password, **FAST)}, {token_digest: "ci"})
    )


def _cookie(value: str) -> dict[str, str]:
    return {"HTTP_COOKIE": f"{auth.COOKIE_NAME}={value}"}


def test_sessions_are_signed_expire_and_end_when_the_password_changes(tmp_path, monkeypatch):
    authn = _authenticator(tmp_path)
    assert (tmp_path / "var" / "session_secret").stat().st_mode & 0o777 == 0o600
    value, csrf = authn.new_session("alice")
    assert authn.identify(_cookie(value)) == Identity("alice", "session", csrf)
    body, _, mac = value.partition(".")
    forged = authn.sign({"u": "alice", "c": "x", "e": int(time.time()) + 60})
    assert authn.identify(_cookie(forged)).user is None  # no password fingerprint
    assert authn.identify(_cookie(body + "." + mac[:-2] + "AA")).user is None
    assert authn.identify(_cookie("garbage")).user is None
    # the same key (var/session_secret), another password: the old session is over
    assert _authenticator(tmp_path, "pw-changed").identify(_cookie(value)).user is None
    assert _authenticator(tmp_path).identify(_cookie(value)).user is None  # a new hash (salt) too
    monkeypatch.setattr(auth.time, "time", lambda: time.monotonic() + 10**10)
    assert authn.identify(_cookie(value)).user is None  # expired


def test_bearer_tokens(tmp_path):
    authn = _authenticator(tmp_path)
    assert authn.identify({"HTTP_AUTHORIZATION": "Bearer cct_token"}) == Identity("ci", "token")
    assert not authn.identify({"HTTP_AUTHORIZATION": "Bearer cct_token"}).needs_csrf
    value, _ = authn.new_session("alice")
    # a wrong token is refused even with a valid session cookie beside it
    bad = authn.identify({"HTTP_AUTHORIZATION": "Bearer nope", **_cookie(value)})
    assert bad == Identity(None, "bad-authorization")


def test_loopback_addresses():
    assert [auth.is_loopback(h) for h in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]] == [
        True
    ] * 5
    assert [auth.is_loopback(h) for h in ["0.0.0.0", "::", "", "192.168.1.5", "example.org"]] == [False] * 5


def test_serving_without_credentials(tmp_path):
    settings = load_settings({}, {"CONTENTCLOUD_VAR": str(tmp_path / "var")}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as refused:
        auth.serving_authenticator(settings, "0.0.0.0")
    assert str(refused.value).startswith("--host: the curator pages need credentials to listen on 0.0.0.0")
    authn, password = auth.serving_authenticator(settings, "127.0.0.1")
    assert password and len(password) >= 16
    assert list(authn.accounts.users) == ["curator"] and authn.check_login("curator", password)
    hashed = hash_password("pw-123456", **FAST)
    configured = load_settings({}, {"CONTENTCLOUD_CURATOR_USERS": f"al:{hashed}"}, base_dir=tmp_path)
    authn, password = auth.serving_authenticator(configured, "0.0.0.0")
    assert password is None and list(authn.accounts.users) == ["al"]


def test_the_cli_prints_hashes_not_passwords():
    from contentcloud.cli import cli

    runner = CliRunner()
    result = runner.invoke(
        cli, ["curator", "hash-password", "alice", "--password-stdin"], input="horse-battery\n"
    )
    assert result.exit_code == 0, result.output
    user, _, hashed = result.stdout.strip().partition(":")
    assert user == "alice" and check_password("horse-battery", hashed)
    assert "horse-battery" not in result.output
    short = runner.invoke(cli, ["curator", "hash-password", "alice", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "shorter than 8 characters" in short.output
    result = runner.invoke(cli, ["curator", "new-token", "ci"])
    assert result.exit_code == 0
    token, entry = result.stdout.splitlines()
    assert token.startswith("cct_")
    assert entry == f"ci:sha256:{hashlib.sha256(token.encode()).hexdigest()}"
    assert runner.invoke(cli, ["curator", "new-token", "a b"]).exit_code == 2
