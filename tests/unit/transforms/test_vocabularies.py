"""Controlled vocabularies: the file formats, lookups, configuration errors and the step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from mdstore.errors import ConfigError, MappingError
from tests.unit.transforms.conftest import stylesheet, write
from transforms.payload import Payload, RecordContext
from transforms.registry import build_chain
from transforms.vocabularies import Vocabulary, VocabularySet, VocabularyStep, load_vocabulary, normalise_key


def test_yaml_csv_and_tsv_formats(tmp_path):
    yaml_file = write(
        tmp_path / "lang.yaml",
        "name: languages\nterms:\n  - term: eng\n    label: English\n    synonyms: [en, English Language]\n",
    )
    csv_file = write(
        tmp_path / "types.csv",
        "term,synonym,label\nreport,info:eu-repo/semantics/report,Report\nreport,technical report,\n",
    )
    tsv_file = write(tmp_path / "rights.tsv", "synonym\tterm\nopen\topen access\n")
    languages = load_vocabulary(yaml_file)
    assert languages.name == "languages"
    assert languages.lookup("  english\n language ") == "eng"
    assert languages.lookup("EN") == "eng"
    assert languages.lookup("eng") == "eng"  # a term is its own synonym
    assert languages.lookup("English") == "eng"  # and so is its label
    assert languages.label("eng") == "English"
    assert languages.lookup("fr") is None
    types = load_vocabulary(csv_file)
    assert (types.name, types.lookup("Technical  Report"), types.label("report"), len(types)) == (
        "types",
        "report",
        "Report",
        1,
    )
    rights = load_vocabulary(tsv_file)
    assert rights.lookup("OPEN") == "open access"
    assert rights.label("open access") is None


def test_a_spelling_claimed_by_two_terms_is_refused_with_both_places(tmp_path):
    path = write(tmp_path / "bad.csv", "term,synonym\neng,en\ndeu,EN\n")
    with pytest.raises(ConfigError) as info:
        load_vocabulary(path)
    assert str(info.value) == (f"{path}:3: bad: spelling 'EN' maps to both 'eng' ({path}:2) and 'deu'")


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        (
            "h.csv",
            "term,label\neng,English\n",
            ":1",
            "the header row must name the columns 'term' and 'synonym'",
        ),
        ("e.csv", "term,synonym\n,en\n", ":2", "empty term"),
        ("y.yaml", "terms: [eng]\n", ": terms[0]", "each entry needs a 'term'"),
        ("s.yaml", "terms:\n  - {term: eng, synonyms: en}\n", ": terms[0]", "'synonyms' must be a list"),
        ("n.yaml", "- eng\n", "", "a YAML vocabulary is a mapping with a list 'terms'"),
        ("b.yaml", "terms: [\n", ":2", "not valid YAML"),
    ],
)
def test_file_errors_name_file_and_line(tmp_path, name, text, where, message):
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        load_vocabulary(path)
    assert str(info.value.file) == f"{path}{where}"
    assert info.value.message.startswith(message)


def test_set_lists_known_names_on_unknown(mappings_dir):
    vocabularies = VocabularySet(mappings_dir / "vocabularies")
    assert vocabularies.names() == ["colours", "languages"]
    with pytest.raises(ConfigError, match="unknown vocabulary 'nope'; known: colours, languages"):
        vocabularies.get("nope")


@given(st.text(max_size=30))
def test_key_is_lower_case_and_normalized_space(text):
    key = normalise_key(text)
    assert "  " not in key
    assert key == key.strip(" ")
    assert not any(c in key for c in "\t\r\n")
    assert key == key.lower()
    assert normalise_key(key) == key
    assert normalise_key(f" \t{text.upper()}\n ") == normalise_key(text.upper())


RECORD = (
    b'<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:language>EN</dc:language>'
    b'<dc:language>klingon</dc:language><dc:language xml:lang="x">Deutsch</dc:language>'
    b'<dc:title lang="english">t</dc:title></oai_dc:dc>'
)


def languages_of(body: bytes) -> list[str]:
    return etree.fromstring(body).xpath("//*[local-name()='language']/text()")


@pytest.mark.parametrize(
    ("on_unknown", "expected"), [("keep", ["eng", "klingon", "deu"]), ("drop", ["eng", "deu"])]
)
def test_step_rewrites_elements(mappings_dir, on_unknown, expected):
    chain = build_chain(
        [
            {
                "type": "vocabulary",
                "vocabulary": "languages",
                "xpath": "//dc:language",
                "on_unknown": on_unknown,
            }
        ],
        base_dir=mappings_dir,
        output="xml",
    )
    assert languages_of(chain.apply(RECORD, record_id="r1")) == expected


def test_step_rewrites_attributes_and_text_nodes(mappings_dir):
    chain = build_chain(
        [
            {"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:title/@lang"},
            {"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:language/text()"},
        ],
        base_dir=mappings_dir,
        output="xml",
    )
    out = etree.fromstring(chain.apply(RECORD, record_id="r1"))
    assert out.find("{http://purl.org/dc/elements/1.1/}title").get("lang") == "eng"
    assert languages_of(etree.tostring(out)) == ["eng", "klingon", "deu"]


def test_step_error_names_value_record_and_line(mappings_dir):
    chain = build_chain(
        [{"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:language", "on_unknown": "error"}],
        base_dir=mappings_dir,
        output="xml",
    )
    with pytest.raises(MappingError) as info:
        chain.apply(RECORD, record_id="ds::1")
    assert (
        str(info.value) == "ds::1: vocabulary languages: line 1: 'klingon' is not in vocabulary 'languages'"
    )


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"xpath": "//x"}, "transform.steps[0].vocabulary", "a vocabulary step needs 'vocabulary'"),
        ({"vocabulary": "languages"}, "transform.steps[0].xpath", "a vocabulary step needs 'xpath'"),
        (
            {"vocabulary": "nope", "xpath": "//x"},
            "transform.steps[0].vocabulary",
            "unknown vocabulary 'nope'",
        ),
        ({"vocabulary": "languages", "xpath": "//["}, "transform.steps[0].xpath", "invalid XPath '//['"),
        (
            {"vocabulary": "languages", "xpath": "//x", "on_unknown": "shout"},
            "transform.steps[0].on_unknown",
            "on_unknown 'shout' is not one of keep, drop, error",
        ),
    ],
)
def test_step_configuration_errors(mappings_dir, config, field, message):
    with pytest.raises(ConfigError) as info:
        build_chain([{"type": "vocabulary", **config}], base_dir=mappings_dir)
    assert info.value.field == field
    assert info.value.message.startswith(message)


def test_step_on_an_in_memory_vocabulary():
    vocabulary = Vocabulary("v")
    vocabulary.add("yes", ["y", "oui", "Ja"])
    step = VocabularyStep(vocabulary, "//a")
    payload = step.apply(Payload.from_body(b"<r><a>JA</a><a>n</a></r>"), RecordContext("r"))
    assert payload.xml_bytes() == b"<?xml version='1.0' encoding='UTF-8'?>\n<r><a>yes</a><a>n</a></r>"


VOCAB_PROBE = stylesheet(
    '<xsl:import href="lib/cc-functions.xsl"/>'
    '<xsl:template match="/"><r><xsl:for-each select="/values/v">'
    '<v t="{cc:vocab(@name, ., \'?\')}" l="{cc:vocab-label(@name, cc:vocab(@name, .))}"/>'
    "</xsl:for-each></r></xsl:template>",
    version="3.0",
)
VOCAB_PROBE_1 = stylesheet(
    '<xsl:template match="/"><r><xsl:for-each select="/values/v">'
    '<v t="{cc:vocab(@name, ., \'?\')}" l="{cc:vocab-label(@name, cc:vocab(@name, .))}"/>'
    "</xsl:for-each></r></xsl:template>"
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["languages", "colours"]),
            st.sampled_from(
                [
                    "en",
                    " EN ",
                    "En-gb",
                    "english",
                    "ENG",
                    "deutsch",
                    "de",
                    "ROUGE",
                    "rot",
                    "Bleu",
                    "blue",
                    "red",
                    "x",
                    "",
                    "\tEnglish\n",
                ]
            ),
        ),
        max_size=12,
    )
)
def test_xslt1_and_xslt3_vocabulary_functions_agree(mappings_dir, pairs):
    write(mappings_dir / "probe3.xsl", VOCAB_PROBE)
    write(mappings_dir / "probe1.xsl", VOCAB_PROBE_1)
    root = etree.Element("values")
    for name, value in pairs:
        etree.SubElement(root, "v", name=name).text = value
    body = etree.tostring(root)
    results = []
    for probe in ("probe1.xsl", "probe3.xsl"):
        chain = build_chain([{"type": "xslt", "mapping": probe}], base_dir=mappings_dir, output="xml")
        results.append([(v.get("t"), v.get("l")) for v in etree.fromstring(chain.apply(body))])
    vocabularies = VocabularySet(mappings_dir / "vocabularies")
    expected = []
    for name, value in pairs:
        term = vocabularies.get(name).lookup(value)
        expected.append((term or "?", vocabularies.get(name).label(term) or ""))
    assert results[0] == results[1] == expected
