"""URI templates: RFC 6570 expansion as the reference library does it, and both shorten algorithms."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.x3ml.uritemplate import (
    TemplateError,
    expand,
    name_uuid,
    post_process,
    shorten_current,
    shorten_legacy,
    template_variables,
)


def test_simple_expansion_encodes_everything_but_unreserved():
    assert expand("Dataset/{term}", {"term": "hdl:11221/90D1-421C-7100-E-B@md=cmdi"}) == (
        "Dataset/hdl%3A11221%2F90D1-421C-7100-E-B%40md%3Dcmdi"
    )


def test_operators():
    values = {"a": "x y/é", "f": "p#q", "q": "1", "e": ""}
    assert expand("{+a}", values) == "x%20y/%C3%A9"
    assert expand("{#f}", values) == "#p%23q"
    assert expand("{?q,e}", values) == "?q=1&e="
    assert expand("{;q,e}", values) == ";q=1;e"
    assert expand("{a:1}", values) == "x"


def test_missing_values_expand_to_nothing():
    assert expand("a/{x}/b", {}) == "a//b"


@pytest.mark.parametrize("pattern", ["a/{x", "a/}x", "{=x}", "{x y}"])
def test_malformed_templates(pattern):
    with pytest.raises(TemplateError):
        expand(pattern, {"x": "1"})


def test_variables_as_the_reference_reads_them():
    assert template_variables("{hierarchy}/{term}{?a,b}") == ["hierarchy", "term", "a", "b"]
    # the reference's pattern does not strip the '/' operator, so such a name is never found
    assert template_variables("{/x}") == ["/x"]


def test_name_uuid_is_javas_name_uuid_from_bytes():
    assert name_uuid("dsn.dk") == "88894435-2ccb-3099-a7be-14beb8813b02"


def test_current_shorten_keeps_the_head_and_hashes_the_last_segment():
    # Mapping549.ttl: …/Clarin/VLO/Actor/88894435-2CCB-3099-A7BE-14BEB8813B02 for "dsn.dk"
    assert shorten_current("Actor/dsn.dk") == "Actor/88894435-2CCB-3099-A7BE-14BEB8813B02"
    assert shorten_current("Actor/") == name_uuid("Actor/").upper()
    assert shorten_current("nothing") == name_uuid("nothing").upper()


def test_legacy_shorten_is_base36_of_the_uuid_text():
    # Mapping518.ttl: parthenos:urxgrzgauji0
    assert shorten_legacy("Dataset/hdl%3A11221%2F90D1-421C-7100-E-B%40md%3Dcmdi") == "urxgrzgauji0"


@pytest.mark.parametrize(
    ("expansion", "processed"),
    [
        ("a%2Fb", "a/b"),
        ("50%25", "50%"),
        ("a%25%25b", "a%25%25b"),  # would become %% : only slashes are restored
        ("%25%2F", "%25/"),
    ],
)
def test_post_processing(expansion, processed):
    assert post_process(expansion) == processed


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_simple_expansion_round_trips(value):
    expanded = expand("{v}", {"v": value})
    assert expanded.isascii()
    assert unquote(expanded) == value


def test_the_fast_quoting_is_urllib_quote():
    """The table-driven quoting of template values gives urllib's result for every operator's safe
    set, over ASCII, non-ASCII and astral characters."""
    import random
    from urllib.parse import quote

    from transforms.x3ml.uritemplate import _OPERATORS, _quote

    alphabet = [chr(c) for c in range(1, 128)] + ["é", "日", "€", "\U0001f600"]
    rng = random.Random(18)
    values = ["", "abc", "hdl:11221/90D1-421C-7100-E-B@md=cmdi", "a b/c?d#e%f"]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    for safe in {operator[4] for operator in _OPERATORS.values()}:
        assert [_quote(v, safe) for v in values] == [quote(v, safe=safe) for v in values]
