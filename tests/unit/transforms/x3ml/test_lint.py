"""Mapping mistakes refused before any record runs: invalid XPath, generators without a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdstore.errors import ConfigError, MappingError
from transforms.registry import build_chain
from transforms.x3ml import X3MLMapping
from transforms.x3ml.lint import invalid_xpaths, missing_generators

MAPPINGS = Path(__file__).resolve().parents[4] / "mappings"
SHIPPED = MAPPINGS / "oai_dc2pe.x3ml"
POLICY = MAPPINGS / "policies" / "contentcloud-policy.xml"
GENERATORS = (
    "DatasetURI, SimpleLabel, AppellationURI, IdentifierURI, URIorUUID, ActorURI, ConceptURI, TypeURI, "
    "LanguageURI, RightURI"
)


def test_the_shipped_mapping_with_its_policy_has_no_finding():
    mapping = X3MLMapping.load(str(SHIPPED), policy=str(POLICY))
    assert invalid_xpaths(mapping.document) == []
    assert missing_generators(mapping.document, mapping.policy) == []


def test_without_a_policy_the_step_says_that_one_is_needed():
    with pytest.raises(ConfigError) as caught:
        build_chain([{"type": "x3ml", "mapping": "oai_dc2pe.x3ml"}], base_dir=MAPPINGS)
    assert str(caught.value) == (
        f"transform.steps[0].policy: x3ml oai_dc2pe.x3ml uses generators that need a generator policy "
        f"({GENERATORS}, first at {SHIPPED}:31, mapping 1) and no policy is given: name one (policy in the "
        "profile's x3ml step, --policy, or the curator page's policy field)"
    )


def test_a_policy_without_a_generator_is_named(tmp_path):
    text = POLICY.read_text(encoding="utf-8")
    start = text.index('<generator name="RightURI"')
    end = text.index("</generator>", start) + len("</generator>")
    (tmp_path / "policy.xml").write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_chain(
            [{"type": "x3ml", "mapping": str(SHIPPED), "policy": str(tmp_path / "policy.xml")}],
            base_dir=MAPPINGS,
        )
    message = str(caught.value)
    assert message.startswith(
        "transform.steps[0].policy: the generator policy policy.xml defines no generator RightURI "
        f"(used by x3ml oai_dc2pe.x3ml, first at {SHIPPED}:"
    ), message


def test_an_invalid_xpath_is_an_error_at_its_place(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count("<relation>dc:title</relation>") == 1
    bad = tmp_path / "bad.x3ml"
    bad.write_text(text.replace("<relation>dc:title</relation>", "<relation>dc:title[</relation>"))
    with pytest.raises(MappingError) as caught:
        build_chain([{"type": "x3ml", "mapping": str(bad), "policy": str(POLICY)}], base_dir=MAPPINGS)
    assert str(caught.value) == (
        f"x3ml bad.x3ml: {bad}:40, mapping 1, link 1, xpath 'dc:title[': invalid XPath in the link path: "
        "'(end)' end at line 1, column 9: [err:XPST0003] unexpected end of source"
    )
