"""Resumption tokens decode to what was encoded, and refuse any altered byte or an expired one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from provision.oai.errors import BadResumptionToken
from provision.oai.tokens import TokenCodec, TokenState

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
codec = TokenCodec(b"k" * 32)
texts = st.text(st.characters(min_codepoint=1, exclude_categories=("Cs",)), max_size=30)
states = st.builds(
    TokenState,
    verb=st.sampled_from(["ListRecords", "ListIdentifiers", "ListSets"]),
    prefix=st.none() | texts,
    set_spec=st.none() | texts,
    from_=st.none() | texts,
    until=st.none() | texts,
    snapshot=st.integers(0, 2**40),
    nonce=st.text("0123456789abcdef", min_size=12, max_size=12),
    after=st.tuples(texts, texts) | st.tuples(texts) | st.just(()),
    cursor=st.integers(0, 10**9),
    total=st.integers(0, 10**9),
    expires=st.just(codec.expiry(NOW)),
)


@given(states)
@example(
    TokenState(
        "ListRecords",
        "oai_dc",
        "a:b",
        "2024-01-01",
        None,
        3,
        "abcdefabcdef",
        ("2024-01-01T00:00:00Z", "ds::1"),
        100,
        200_000,
        codec.expiry(NOW),
    )
)
def test_a_token_decodes_to_what_was_encoded(state):
    token = codec.encode(state)
    assert token.isascii()
    assert all(c.isalnum() or c in "-_." for c in token)
    assert codec.decode(token, NOW) == state


@given(states, st.data())
def test_any_altered_character_is_refused(state, data):
    token = codec.encode(state)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCabc019-_.=+/ ").filter(lambda c: c != token[position]))
    altered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(BadResumptionToken):
        codec.decode(altered, NOW)


@given(states, st.integers(1, 40))
def test_truncated_or_extended_tokens_are_refused(state, cut):
    token = codec.encode(state)
    for bad in (token[:-cut], token + "A" * cut, token[cut:]):
        with pytest.raises(BadResumptionToken):
            codec.decode(bad, NOW)


def test_expiry_is_at_least_a_day_and_enforced():
    state = TokenState("ListRecords", "oai_dc", None, None, None, 1, "n", (), 0, 1, codec.expiry(NOW))
    token = codec.encode(state)
    assert state.expiration - NOW >= timedelta(hours=24)
    assert codec.decode(token, NOW + timedelta(hours=24, minutes=59)) == state
    with pytest.raises(BadResumptionToken, match="expired"):
        codec.decode(token, NOW + timedelta(hours=25))


def test_another_key_does_not_verify():
    state = TokenState("ListSets", None, None, None, None, 1, "n", ("x",), 0, 1, codec.expiry(NOW))
    with pytest.raises(BadResumptionToken, match="signature"):
        TokenCodec(b"other").decode(codec.encode(state), NOW)
    with pytest.raises(ValueError, match="must not be empty"):
        TokenCodec(b"")
