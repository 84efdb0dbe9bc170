"""The mappings shipped in ``mappings/``, on real records from ``../shared``.

oai_dc2pe.xsl: the exact graph of the PUMA sample, then every oai_dc record of the recorded OAI
exchanges mapped and read back by pe2oai_dc.xsl (valid oai_dc, the mapped fields preserved).
The X3ML mappings need the engine (``transforms.x3ml``) and are tested when it is installed.
"""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from lxml import etree

from transforms.payload import safe_parser
from transforms.registry import build_chain
from transforms.vocabularies import VocabularySet

PROJECT = Path(__file__).resolve().parents[3]
MAPPINGS = PROJECT / "mappings"
OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
CRM = rdflib.Namespace("http://www.cidoc-crm.org/cidoc-crm/")
PE = rdflib.Namespace("http://parthenos.d4science.org/CRMext/CRMpe.rdfs/")
XSD_DATE = rdflib.XSD.date
BASE = "https://contentcloud.example/pe/"


def chain(*steps: dict, output: str = "ntriples", **kwargs):
    return build_chain(list(steps), base_dir=MAPPINGS, output=output, **kwargs)


def graph_of(ntriples: bytes) -> rdflib.Graph:
    return rdflib.Graph().parse(data=ntriples, format="nt")


@pytest.fixture(scope="module")
def puma(shared_dir) -> bytes:
    return (shared_dir / "oai-pmh" / "samples" / "oai_dc-puma-record.xml").read_bytes()


def test_oai_dc2pe_xsl_on_the_puma_record(puma):
    out = chain({"type": "xslt", "mapping": "oai_dc2pe.xsl"}, params={"datasource": "puma"}).apply(
        puma, record_id="puma::5570320ab7c84b835ef2ea774c482a35"
    )
    g = graph_of(out)
    dataset = rdflib.URIRef(f"{BASE}puma/dataset/5570320ab7c84b835ef2ea774c482a35")
    title = (
        "Statistical analysis of probabilistic models of software product lines with quantitative "
        "constraints. Extended Version."
    )
    expected = {
        (dataset, rdflib.RDF.type, PE.PE22_Persistent_Dataset),
        (dataset, rdflib.RDFS.label, rdflib.Literal(title)),
        (dataset, CRM.P1_is_identified_by, rdflib.URIRef(f"{dataset}/title/1")),
        (rdflib.URIRef(f"{dataset}/title/1"), rdflib.RDF.type, CRM.E41_Appellation),
        (rdflib.URIRef(f"{dataset}/title/1"), rdflib.RDFS.label, rdflib.Literal(title)),
        (
            rdflib.URIRef(f"{dataset}/identifier/2"),
            rdflib.RDFS.label,
            rdflib.Literal(
                "http://puma.isti.cnr.it/rmydownload.php?filename=cnr.isti/cnr.isti/2015-TR-026/2015-TR-026.pdf"
            ),
        ),
        (
            dataset,
            PE.PP50_accessible_at,
            rdflib.URIRef("http://puma.isti.cnr.it/dfdownloadnew.php?ident=cnr.isti/cnr.isti/2015-TR-026"),
        ),
        (dataset, CRM.P94i_was_created_by, rdflib.URIRef(f"{dataset}/creation")),
        (
            rdflib.URIRef(f"{dataset}/creation"),
            CRM.P14_carried_out_by,
            rdflib.URIRef(f"{BASE}actor/Lluch%20Lafuente%2C%20Alberto"),
        ),
        (rdflib.URIRef(f"{BASE}actor/Lluch%20Lafuente%2C%20Alberto"), rdflib.RDF.type, CRM.E39_Actor),
        (rdflib.URIRef(f"{dataset}/date/1"), rdflib.RDFS.label, rdflib.Literal("2015-06-16")),
        (
            rdflib.URIRef(f"{dataset}/date/1"),
            CRM.P82a_begin_of_the_begin,
            rdflib.Literal("2015-06-16", datatype=XSD_DATE),
        ),
        (
            rdflib.URIRef(f"{dataset}/date/1"),
            CRM.P82b_end_of_the_end,
            rdflib.Literal("2015-06-16", datatype=XSD_DATE),
        ),
        (dataset, CRM.P129_is_about, rdflib.URIRef(f"{BASE}concept/Statistical%20Model%20Checking")),
        (dataset, CRM.P2_has_type, rdflib.URIRef(f"{BASE}type/report")),
        (rdflib.URIRef(f"{BASE}type/report"), rdflib.RDFS.label, rdflib.Literal("report")),
        (dataset, CRM.P72_has_language, rdflib.URIRef(f"{BASE}language/eng")),
        (dataset, rdflib.RDF.type, CRM.E33_Linguistic_Object),  # P72's domain, as PARTHENOS types it
        (rdflib.URIRef(f"{BASE}language/eng"), CRM.P3_has_note, rdflib.Literal("English")),
        (dataset, CRM.P104_is_subject_to, rdflib.URIRef(f"{BASE}right/open%20access")),
        (rdflib.URIRef(f"{BASE}right/open%20access"), rdflib.RDF.type, CRM.E30_Right),
    }
    assert expected <= set(g)
    assert len(g) == 76
    assert len(set(g.objects(dataset, CRM.P129_is_about))) == 10
    assert len(set(g.objects(rdflib.URIRef(f"{dataset}/creation"), CRM.P14_carried_out_by))) == 4
    assert len(list(g.objects(dataset, CRM.P3_has_note))) == 1


def oai_dc_records(shared_dir: Path) -> list[bytes]:
    records = []
    for name in sorted(glob.glob(str(shared_dir / "oai-pmh" / "recorded" / "*" / "*.xml"))):
        try:
            page = etree.parse(name, safe_parser())
        except etree.XMLSyntaxError:
            continue  # the folder keeps one broken page on purpose (the harvester's business)
        for record in page.iterfind(f".//{{{OAI}}}record"):
            if record.find(f"{{{OAI}}}metadata/{{{OAI_DC}}}dc") is not None:
                records.append(etree.tostring(record))
    return records


def dc_values(dc: etree._Element, name: str) -> set[str]:
    return {" ".join(e.text.split()) for e in dc.iterfind(f"{{{DC}}}{name}") if e.text and e.text.strip()}


@pytest.fixture(scope="module")
def oai_dc_validator(shared_dir, tmp_path_factory):
    schemas = tmp_path_factory.mktemp("m") / "schemas"
    shutil.copytree(shared_dir / "oai-pmh" / "schemas", schemas)
    return build_chain(
        [{"type": "validate", "schema": "schemas/oai-pmh-offline.xsd", "element": "//oai_dc:dc"}],
        base_dir=schemas.parent,
        output="xml",
    )


def test_every_recorded_oai_dc_record_goes_to_pe_and_back(shared_dir, oai_dc_validator):
    records = oai_dc_records(shared_dir)
    assert len(records) > 3000
    forward = chain({"type": "xslt", "mapping": "oai_dc2pe.xsl"}, output="rdfxml")
    back = chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml")
    vocabularies = VocabularySet(MAPPINGS / "vocabularies")
    canonical = {"type": "resource_types", "language": "languages", "rights": "access_rights"}
    for index, body in enumerate(records):
        rdfxml = forward.apply(body, record_id=f"rec::{index}")
        ox.parse(rdfxml, format=ox.RdfFormat.RDF_XML)  # well-formed RDF with valid IRIs
        result = back.apply(rdfxml, record_id=f"rec::{index}")
        oai_dc_validator.apply(result, record_id=f"rec::{index}")
        source = etree.fromstring(body).find(f".//{{{OAI_DC}}}dc")
        mapped = etree.fromstring(result)
        for name in (
            "title",
            "identifier",
            "creator",
            "subject",
            "description",
            "date",
            "type",
            "language",
            "rights",
        ):
            expected = dc_values(source, name)
            if name in canonical:
                vocabulary = vocabularies.get(canonical[name])
                expected = {vocabulary.lookup(v) or v for v in expected}
            assert dc_values(mapped, name) == expected, (index, name)


@pytest.mark.parametrize("layout", ["xml", "pretty-xml", "oxigraph"])
def test_pe2oai_dc_reads_every_rdfxml_layout(puma, layout):
    nt = chain({"type": "xslt", "mapping": "oai_dc2pe.xsl"}).apply(puma, record_id="p::1")
    if layout == "oxigraph":
        rdfxml = ox.serialize(ox.parse(nt, format=ox.RdfFormat.N_TRIPLES), format=ox.RdfFormat.RDF_XML)
    else:
        rdfxml = graph_of(nt).serialize(format=layout, encoding="utf-8")
    out = etree.fromstring(chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml").apply(rdfxml))
    source = etree.fromstring(puma).find(f".//{{{OAI_DC}}}dc")
    for name in ("title", "identifier", "creator", "subject", "description", "date"):
        assert dc_values(out, name) == dc_values(source, name), name
    assert (dc_values(out, "type"), dc_values(out, "language"), dc_values(out, "rights")) == (
        {"report"},
        {"eng"},
        {"open access"},
    )


def test_pe2oai_dc_refuses_a_graph_without_a_dataset():
    from mdstore.errors import MappingError

    rdfxml = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    with pytest.raises(MappingError, match="no PE22/PE24/PE18 dataset or D1 digital object in the graph"):
        chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml").apply(rdfxml, record_id="x")


def test_oai_dc2pe_refuses_a_record_without_oai_dc(shared_dir):
    from mdstore.errors import MappingError

    cmdi = (shared_dir / "oai-pmh" / "samples" / "cmdi-kielipankki-GetRecord.xml").read_bytes()
    with pytest.raises(MappingError) as info:
        chain({"type": "xslt", "mapping": "oai_dc2pe.xsl"}).apply(cmdi, record_id="x::1")
    assert str(info.value) == (
        'x::1: xslt oai_dc2pe.xsl: oai_dc2pe.xsl:49, xsl:template match="/" / xsl:if test="not($dc)": '
        "no oai_dc:dc element in the record"
    )


# --- X3ML ------------------------------------------------------------------------------------------

POLICY = "policies/contentcloud-policy.xml"


@pytest.fixture(scope="module")
def engine():
    import transforms.x3ml

    return transforms.x3ml


def labels(g: rdflib.Graph, subject, predicate, cls) -> set[str]:
    return {
        str(g.value(o, rdflib.RDFS.label))
        for o in g.objects(subject, predicate)
        if (o, rdflib.RDF.type, cls) in g
    }


def test_oai_dc2pe_x3ml_on_the_puma_record(engine, puma):
    steps = [
        {"type": "vocabulary", "vocabulary": "languages", "xpath": "//dc:language"},
        {"type": "vocabulary", "vocabulary": "resource_types", "xpath": "//dc:type"},
        {"type": "vocabulary", "vocabulary": "access_rights", "xpath": "//dc:rights"},
        {"type": "x3ml", "mapping": "oai_dc2pe.x3ml", "policy": POLICY},
    ]
    run = chain(*steps)
    out = run.apply(puma, record_id="puma::1")
    assert run.apply(puma, record_id="puma::1") == out  # reproducible: no churn downstream
    g = graph_of(out)
    (dataset,) = g.subjects(rdflib.RDF.type, PE.PE22_Persistent_Dataset)
    # the OAI header identifier names the dataset (name-based UUID of the policy's shorten)
    assert str(dataset).startswith(f"{BASE}dataset/")
    assert labels(g, dataset, CRM.P1_is_identified_by, CRM.E41_Appellation) == {
        "Statistical analysis of probabilistic models of software product lines with quantitative "
        "constraints. Extended Version."
    }
    assert len(labels(g, dataset, CRM.P1_is_identified_by, CRM.E42_Identifier)) == 2
    assert set(g.objects(dataset, PE.PP50_accessible_at)) == {
        rdflib.URIRef("http://puma.isti.cnr.it/dfdownloadnew.php?ident=cnr.isti/cnr.isti/2015-TR-026"),
        rdflib.URIRef(
            "http://puma.isti.cnr.it/rmydownload.php?filename=cnr.isti/cnr.isti/2015-TR-026/2015-TR-026.pdf"
        ),
    }
    (creation,) = g.objects(dataset, CRM.P94i_was_created_by)
    assert labels(g, creation, CRM.P14_carried_out_by, CRM.E39_Actor) == {
        "Ter Beek, Maurice H.",
        "Legay, Axel",
        "Lluch Lafuente, Alberto",
        "Vandin, Andrea",
    }
    assert labels(g, creation, CRM["P4_has_time-span"], CRM["E52_Time-Span"]) == {"2015-06-16"}
    assert len(labels(g, dataset, CRM.P129_is_about, CRM.E55_Type)) == 10
    assert labels(g, dataset, CRM.P2_has_type, CRM.E55_Type) == {"report"}
    assert labels(g, dataset, CRM.P72_has_language, CRM.E56_Language) == {"eng"}
    assert labels(g, dataset, CRM.P104_is_subject_to, CRM.E30_Right) == {"open access"}
    assert len(list(g.objects(dataset, CRM.P3_has_note))) == 1
    assert len(g) == 73


def test_cmdi_metashare2pe_x3ml_on_the_kielipankki_record(engine, shared_dir):
    body = (shared_dir / "oai-pmh" / "samples" / "cmdi-kielipankki-GetRecord.xml").read_bytes()
    g = graph_of(
        chain({"type": "x3ml", "mapping": "cmdi_metashare2pe.x3ml", "policy": POLICY}).apply(
            body, record_id="kp::1"
        )
    )
    (dataset,) = g.subjects(rdflib.RDF.type, PE.PE22_Persistent_Dataset)
    assert str(g.value(dataset, rdflib.RDFS.label)) == "Finnish TreeBank 1"
    assert labels(g, dataset, CRM.P1_is_identified_by, CRM.E41_Appellation) == {
        "Finnish TreeBank 1",
        "FinnTreeBank1",
        "FTB1",
    }
    assert labels(g, dataset, CRM.P1_is_identified_by, CRM.E42_Identifier) == {
        "http://urn.fi/urn:nbn:fi:lb-20140730138",
        "islrn.org/resources/848-939-385-570-0",
    }
    assert set(g.objects(dataset, PE.PP50_accessible_at)) == {
        rdflib.URIRef("http://www.ling.helsinki.fi/kieliteknologia/tutkimus/treebank/"),
        rdflib.URIRef("http://urn.fi/urn:nbn:fi:lb-20140730138"),
    }
    assert labels(g, dataset, CRM.P104_is_subject_to, CRM.E30_Right) == {"CC-BY", "available-unrestrictedUse"}
    assert labels(g, dataset, CRM.P105_right_held_by, CRM.E39_Actor) == {"University of Helsinki"}
    assert labels(g, dataset, CRM.P2_has_type, CRM.E55_Type) == {"corpus"}
    assert labels(g, dataset, CRM.P72_has_language, CRM.E56_Language) == {"fin"}
    assert labels(g, dataset, CRM.P129_is_about, CRM.E55_Type) == {"morphologicalAnalysis"}
    (note,) = g.objects(dataset, CRM.P3_has_note)
    assert note.startswith("The example sentences from Iso suomen kielioppi")
    assert note.language == "en"
    assert len(g) == 41


@pytest.mark.parametrize(
    ("mapping", "sample", "titles"),
    [
        ("oai_dc2pe.x3ml", "oai_dc-puma-record.xml", 1),
        ("cmdi_metashare2pe.x3ml", "cmdi-kielipankki-GetRecord.xml", 3),
    ],
)
def test_x3ml_output_reads_back_as_oai_dc(engine, shared_dir, oai_dc_validator, mapping, sample, titles):
    body = (shared_dir / "oai-pmh" / "samples" / sample).read_bytes()
    rdfxml = chain({"type": "x3ml", "mapping": mapping, "policy": POLICY}, output="rdfxml").apply(
        body, record_id="x"
    )
    result = chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml").apply(rdfxml)
    oai_dc_validator.apply(result)
    assert len(dc_values(etree.fromstring(result), "title")) == titles


def test_pe2oai_dc_reads_parthenos_own_output_nested_as_3m_wrote_it(shared_dir):
    """365_official.rdf is RDF/XML as PARTHENOS' 3M wrote it (nested nine levels deep); there the
    PE22 is the metadata record and the dataset is what it PP39_is_metadata_for."""
    rdfxml = (
        shared_dir / "parthenos" / "mappings" / "cmdi_dataset_365_official" / "365_official.rdf"
    ).read_bytes()
    out = etree.fromstring(chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml").apply(rdfxml))
    assert dc_values(out, "title") == {"corpus hedendaags nederlands"}
    (description,) = dc_values(out, "description")
    assert description.startswith("Since 1994, The Instituut voor Nederlandse Lexicologie has put online")
    assert dc_values(out, "date") == {"Time Span of Creation Event for corpus hedendaags nederlands"}


@pytest.mark.parametrize("layout", ["xml", "pretty-xml"])
def test_pe2oai_dc_on_the_parthenos_mapping549_output(shared_dir, layout):
    graph = rdflib.Graph().parse(
        shared_dir / "parthenos" / "mappings" / "Mapping549_CLARIN-DKtei" / "Mapping549.ttl", format="turtle"
    )
    out = etree.fromstring(
        chain({"type": "xslt", "mapping": "pe2oai_dc.xsl"}, output="xml").apply(
            graph.serialize(format=layout, encoding="utf-8")
        )
    )
    assert dc_values(out, "title") == {
        "Udskrift af Multimediebeskatning",
        "Annotation: Udskrift af Multimediebeskatning, csttaggerXML",
    }
    assert dc_values(out, "description") == {"CSTtags", "csttaggerXML"}
    assert (dc_values(out, "type"), dc_values(out, "language")) == ({"textAnnotation"}, {"da"})
