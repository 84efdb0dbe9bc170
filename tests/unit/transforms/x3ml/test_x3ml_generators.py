"""The ported custom generators, the URI validator behind them, and the date parser."""

from __future__ import annotations

import pytest

from mdstore.errors import UnknownPlugin
from transforms.x3ml.generators import custom
from transforms.x3ml.generators.dates import to_xsd_datetime
from transforms.x3ml.generators.registry import CUSTOM_GENERATORS
from transforms.x3ml.urivalidator import UriRepairError, encode_uri, is_valid_uri


class Env:
    def __init__(self) -> None:
        self.state: dict = {}

    def random_uuid(self) -> str:
        return "00000000-0000-4000-8000-000000000000"


def make(cls, env=None, **args):
    gen = cls(env or Env())
    for name, value in args.items():
        gen.set_arg(name, value)
    return gen


def test_registry_finds_generators_by_java_class_name():
    assert CUSTOM_GENERATORS.get("gr.forth.URIorUUID") is custom.URIorUUID
    assert "gr.forth.AuthorityPrirefThingCounter" in CUSTOM_GENERATORS.names()
    with pytest.raises(UnknownPlugin, match="gr.forth.Nope"):
        CUSTOM_GENERATORS.get("gr.forth.Nope")


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("http://example.org/a b", "http://example.org/a%20b", "URI"),
        ("hdl:11221/90D1-421C-70C9-5", "hdl:11221/90D1-421C-70C9-5", "URI"),
        ("urn:uuid:abc", "urn:uuid:abc", "URI"),
        ("plain words", "plain%20words", "UUID"),
        ("X", "X", "UUID"),
    ],
)
def test_uri_or_uuid(text, value, kind):
    gen = make(custom.URIorUUID, text=text)
    assert (gen.get_value(), gen.get_value_type()) == (value, kind)


def test_uri_or_uuid_before_1_8_3_accepts_only_url_protocols_and_urns():
    assert make(custom.URIorUUIDLegacy, text="hdl:10032/x").get_value_type() == "UUID"
    assert make(custom.URIorUUIDLegacy, text="http://a.org/x").get_value_type() == "URI"
    assert make(custom.URIorUUIDLegacy, text="URN:isbn:1").get_value_type() == "URI"


def test_uri_repair_that_cannot_work_is_an_error():
    # Spring reads "Uka Obr. 47" as a scheme; the reference's URIorUUID throws here
    with pytest.raises(UriRepairError):
        encode_uri("Uka Obr. 47:38")
    assert not is_valid_uri("Uka Obr. 47:38")


def test_remove_term_first_or_all_occurrences():
    assert make(custom.RemoveTerm, text="a-b-c", termToRemove="-").get_value() == "ab-c"
    gen = make(custom.RemoveTerm, text="a-b-c", termToRemove="-", removeAllOccurrences="true")
    assert gen.get_value() == "abc"
    assert gen.get_value_type() == "Literal"
    # the reference lower-cases the value and compares it with "YES": "yes" does not switch it on
    assert (
        make(custom.RemoveTerm, text="a-b-c", termToRemove="-", removeAllOccurrences="yes").get_value()
        == "ab-c"
    )


def test_remove_term_with_a_prefix_makes_uris():
    gen = custom.RemoveTerm(Env())
    gen.uses_namespace_prefix()
    gen.set_arg("text", "CODE: 1")
    gen.set_arg("termToRemove", "CODE: ")
    assert (gen.get_value(), gen.get_value_type()) == ("1", "URI")


def test_concat_multiple_terms():
    gen = make(
        custom.ConcatMultipleTerms,
        prefix="http://ex.org/",
        text1="a<SAME_DELIM>b",
        text2="",
        text3="c",
        sameTermsDelim="+",
        diffTermsDelim="_",
    )
    assert (gen.get_value(), gen.get_value_type()) == ("http://ex.org/a+b_c", "URI")
    with pytest.raises(custom.CustomGeneratorError, match="all values are missing"):
        make(custom.ConcatMultipleTerms, prefix="", text1="", diffTermsDelim="_").get_value()


def test_textual_content_is_name_based():
    first = make(custom.TextualContent, text="same").get_value()
    assert first == make(custom.TextualContent, text="same").get_value()
    assert first != make(custom.TextualContent, text="other").get_value()


def test_uri_existing_or_new():
    assert make(custom.UriExistingOrNew, uri="http://x.org/1", text1="a").get_value() == "http://x.org/1"
    gen = make(custom.UriExistingOrNew, uri="", text1="a", uri_separator1="/", text2="b", uri_separator2="")
    assert gen.get_value() == "a/b"
    # one text and no separator: the reference appends the Java "null"
    assert make(custom.UriExistingOrNew, text1="a").get_value() == "anull"


def test_multi_hashing():
    gen = make(
        custom.MultiHashingGenerator, base="http://x.org", id_HASHED_CONTENTS="dsn.dk", r_RANDOM_UUID="z"
    )
    assert gen.get_value() == (
        "http://x.org/88894435-2CCB-3099-A7BE-14BEB8813B02/00000000-0000-4000-8000-000000000000"
    )


def test_authority_priref_thing_counter_counts_per_run_state():
    env = Env()

    def value(priref, thing):
        return make(
            custom.AuthorityPrirefThingCounter, env, authority="a", priref=priref, thing=thing
        ).get_value()

    assert [value("1", "t"), value("1", "t"), value("2", "t"), value("2", "t")] == [
        "a/1/t/1",
        "a/1/t/2",
        "a/2/t/1",
        "a/2/t/2",
    ]
    assert make(
        custom.AuthorityPrirefThingCounter, Env(), authority="a", priref="1", thing="t"
    ).get_value() == ("a/1/t/1")


@pytest.mark.parametrize(
    ("text", "lower", "upper"),
    [
        ("1864-01", "1864-01-01T00:00:00", "1864-01-31T23:59:59"),
        ("2015-07-24", "2015-07-24T00:00:00", "2015-07-24T23:59:59"),
        ("-116", "-0116-01-01T00:00:00", "-0116-12-31T23:59:59"),
        ("0", "0000-01-01T00:00:00", "0000-12-31T23:59:59"),
        ("12 May 1990 10:30", "1990-05-12T10:30:00", "1990-05-12T10:30:59"),
        ("3/Maj/1700", "1700-05-03T00:00:00", "1700-05-03T23:59:59"),
        ("1500-02", "1500-02-01T00:00:00", "1500-02-29T23:59:59"),  # Julian leap year
        ("29/02/1900", "1900-03-01T00:00:00", "1900-03-01T23:59:59"),  # lenient calendar rolls over
        ("31/04/2000", "Unknown-Format", "Unknown-Format"),
        ("around 1900", "Unknown-Format", "Unknown-Format"),
    ],
)
def test_dates(text, lower, upper):
    assert to_xsd_datetime(text, "Lower") == lower
    assert to_xsd_datetime(text, "Upper") == upper


def test_date_generators_type_their_value_as_a_literal():
    gen = make(custom.GermanDate, text="1990", bound="Upper")
    assert (gen.get_value(), gen.get_value_type()) == ("1990-12-31T23:59:59", "Literal")
    with pytest.raises(ValueError, match="Bounds"):
        make(custom.BMdates, text="1990", bound="upper")


def test_date_normalizer_reports_date_or_date_and_time():
    assert make(custom.DateNormalizer, text="1527", bound="Upper", report="Date_and_Time").get_value() == (
        "1527-12-31T23:59:59"
    )
    assert make(custom.DateNormalizer, text="1527", bound="Lower", report="Date").get_value() == "1527-01-01"
    assert make(custom.DateNormalizer, text="1527", bound="Lower").get_value() == "1527-01-01"


@pytest.mark.parametrize(
    ("date1", "date2", "label"),
    [("1900", "1900", "1900"), ("1900", "1910", "1900 - 1910"), ("", "1910", "1910"), ("1900", "", "1900")],
)
def test_date_range_label(date1, date2, label):
    assert make(custom.DateRangeLabel, date1=date1, date2=date2).get_value() == label


def test_uri_characters_checked_by_one_match_as_by_the_loop():
    """ASCII texts take a regular expression instead of the character loop: same answers."""
    import random

    from transforms.x3ml import urivalidator

    def loop(text: str) -> bool:
        return urivalidator._valid_chars(text, extra="\x00")  # a non-empty extra keeps the loop

    rng = random.Random(18)
    alphabet = [chr(c) for c in range(1, 128)] + ["%4F", "%4", "%zz", "%"]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(5000)]
    texts = [t for t in texts if "\x00" not in t]
    assert [urivalidator._valid_chars(t) for t in texts] == [loop(t) for t in texts]
    assert sum(urivalidator._valid_chars(t) for t in texts) > 100  # both answers occur
