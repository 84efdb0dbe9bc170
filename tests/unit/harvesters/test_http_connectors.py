"""JSON→XML, dotted paths and connector parameter checks (no server)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from harvesters.http.connector import REQUIRED, check_params
from harvesters.http.jsonxml import dotted, json_to_xml
from harvesters.http.registry import CONNECTORS
from harvesters.registry import HARVESTERS
from mdstore.errors import ConfigError, UnknownPlugin


def test_json_to_xml_shapes():
    xml = json_to_xml(
        {"id": 1, "tags": ["a", "b"], "n": None, "ok": False, "a b": "c", "xmlish": 2, "nested": [[1, 2]]}
    )
    assert xml == (
        b'<record><id>1</id><tags>a</tags><tags>b</tags><n null="true"/><ok>false</ok>'
        b'<field name="a b">c</field><field name="xmlish">2</field>'
        b"<nested><item>1</item><item>2</item></nested></record>"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_json_becomes_well_formed_xml(value):
    assert etree.fromstring(json_to_xml(value)).tag == "record"


def test_dotted_paths():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert dotted(data, "a.b.1.c") == 2
    assert dotted(data, "a.b.-1.c") == 2
    assert dotted(data, "a.x.c") is None
    assert dotted(data, "a.b.7") is None
    assert dotted(data, "") is data


def test_check_params_fills_defaults_and_refuses_unknown_and_missing():
    declared = {"need": REQUIRED, "opt": 3}
    assert check_params("c", declared, {"need": 1}) == {"need": 1, "opt": 3}
    with pytest.raises(ConfigError, match="needs the parameter 'need'"):
        check_params("c", declared, {})
    with pytest.raises(ConfigError) as caught:
        check_params("c", declared, {"need": 1, "nede": 2})
    assert caught.value.field == "api.params.nede"


def test_registries_list_the_built_ins_and_name_the_valid_ones():
    assert HARVESTERS.names() == ["ftp", "http", "oai"]
    assert CONNECTORS.names() == ["csv", "paged", "url-list", "xml-split"]
    with pytest.raises(UnknownPlugin, match="valid names: csv, paged, url-list, xml-split"):
        CONNECTORS.get("soap")
