"""The set query language and the main entity type of a transformed record."""

from __future__ import annotations

import fnmatch

import pyoxigraph as ox
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdstore.errors import ConfigError
from provision.oai.sets import BUILTIN_FIELDS, ancestors, glob_match, main_entity_type, parse_query

FIELDS = BUILTIN_FIELDS | {"subject"}


@pytest.mark.parametrize(
    ("query", "values", "expected"),
    [
        ("type:PE18*", {"type": ["PE18_Dataset"]}, True),
        ("type:pe18_dataset", {"type": ["PE18_Dataset"]}, True),
        ("type:PE18", {"type": ["PE18_Dataset"]}, False),
        ('subject:"art history"', {"subject": ["Archaeology", "Art History"]}, True),
        ("subject:art datasource:a", {"subject": ["art"], "datasource": ["b"]}, False),
        ("subject:art OR datasource:a", {"subject": ["x"], "datasource": ["a"]}, True),
        ("NOT (subject:art OR datasource:a)", {"subject": ["x"], "datasource": ["b"]}, True),
        ("original_id:obj-?", {"original_id": ["obj-7"]}, True),
        ("original_id:obj-?", {"original_id": ["obj-17"]}, False),
        ('subject:"say \\"hi\\""', {"subject": ['say "hi"']}, True),
        ("format:lido AND NOT type:*", {"format": ["lido", "oai_dc"], "type": []}, True),
    ],
)
def test_queries(query, values, expected):
    assert parse_query(query, FIELDS).matches(values) is expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour:red", "unknown field 'colour'"),
        ("(type:a", "missing ')'"),
        ("type:a OR", "ends where a term"),
        ("type:a )", "unexpected ')'"),
        ("justaword", "cannot read the query at character 1"),
        ("NOT " * 40 + "type:a", "deeper"),
        ("type:" + "a" * 2001, "longer than"),
    ],
)
def test_query_errors_say_where(query, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(query, FIELDS)


@given(st.text("ab*?", max_size=8), st.text("ab", max_size=12))
def test_glob_agrees_with_fnmatch(pattern, text):
    assert glob_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


def test_glob_is_not_exponential():
    assert not glob_match("a*" * 30 + "b", "a" * 5000)


def test_ancestors():
    assert ancestors("a:b:c") == ["a", "a:b", "a:b:c"]


PE = "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"
TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def _triples(nt: str) -> list:
    return list(ox.parse(nt.encode(), format=ox.RdfFormat.N_TRIPLES))


def test_main_entity_is_the_root_and_pe_types_win():
    nt = (
        f"<http://x/a> <{TYPE}> <{CRM}E22_Man-Made_Object> .\n<http://x/a> <{TYPE}> <{PE}PE1_Service> .\n"
        f"<http://x/a> <{CRM}P1_is_identified_by> <http://x/id> .\n"
        f"<http://x/id> <{TYPE}> <{CRM}E42_Identifier> .\n"
        f'<http://x/id> <{CRM}P3_has_note> "n" .\n<http://x/id> <{CRM}P3_has_note> "m" .\n'
    )
    assert main_entity_type(_triples(nt)) == "PE1_Service"
    assert main_entity_type(_triples(nt), "http://x/id") == "E42_Identifier"
    assert main_entity_type(_triples('<http://x/a> <http://x/p> "v" .\n')) is None


def test_among_several_roots_the_one_with_most_statements_then_the_smallest_wins():
    two = f"<http://x/b> <{TYPE}> <{CRM}E39_Actor> .\n<http://x/a> <{TYPE}> <{PE}PE1_Service> .\n"
    assert main_entity_type(_triples(two)) == "PE1_Service"  # one statement each: <http://x/a> first
    more = two + f'<http://x/b> <{CRM}P3_has_note> "n" .\n'
    assert main_entity_type(_triples(more)) == "E39_Actor"
    # a cycle leaves no root: every typed subject is a candidate
    cycle = more + f"<http://x/a> <{CRM}P14> <http://x/b> .\n<http://x/b> <{CRM}P14i> <http://x/a> .\n"
    assert main_entity_type(_triples(cycle)) == "E39_Actor"
    blank = f"_:r <{TYPE}> <{PE}PE22_Persistent_Dataset> .\n_:r <{CRM}P1_is_identified_by> <http://x/i> .\n"
    assert main_entity_type(_triples(blank + f"<http://x/i> <{TYPE}> <{CRM}E42_Identifier> .\n")) == (
        "PE22_Persistent_Dataset"
    )
