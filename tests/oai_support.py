"""Shared by the OAI-PMH publisher tests: a small two-datasource MDStore with known answers,
and offline validation of responses against the official XSDs in ../shared/oai-pmh/schemas.

Payloads whose schemas the official set does not hold (LIDO, RDF/XML) are checked apart (well
formed, in the announced namespace) and replaced by an empty ``oai_dc:dc`` before the envelope
is validated strictly, as ``../shared/oai-pmh/schemas/README.md`` suggests.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from lxml import etree

from contentcloud.datasources import Datasource, profile_from_dict
from mdstore import MDStore, RecordInput, make_record_id

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
LIDO = "http://www.lido-schema.org"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PE = "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
CRM = "http://www.cidoc-crm.org/cidoc-crm/"
NS = {"o": OAI, "oai_dc": OAI_DC, "dc": DC}
REPO = "test.contentcloud.org"
SECRET = b"test-secret"


@cache
def _schema(schema_dir: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(Path(schema_dir) / "oai-pmh-offline.xsd")))


def validate(body: bytes, schema_dir: Path) -> etree._ElementTree:
    """Parse and validate one OAI-PMH response; AssertionError with the schema's log otherwise."""
    doc = etree.ElementTree(etree.fromstring(body))
    checked = copy.deepcopy(doc)
    for metadata in checked.iter(f"{{{OAI}}}metadata"):
        children = [c for c in metadata if isinstance(c.tag, str)]
        assert len(children) == 1, "metadata must hold exactly one element"
        payload = children[0]
        if etree.QName(payload).namespace != OAI_DC:
            assert etree.QName(payload).namespace not in (None, OAI), "payload namespace"
            metadata.remove(payload)
            etree.SubElement(metadata, f"{{{OAI_DC}}}dc")
    schema = _schema(str(schema_dir))
    assert schema.validate(checked), f"schema-invalid response: {schema.error_log}\n{body[:3000]!r}"
    return doc


def error_code(doc: etree._ElementTree) -> str | None:
    errors = doc.getroot().findall(f"{{{OAI}}}error")
    return errors[0].get("code") if errors else None


# --- fixture data ---------------------------------------------------------------------------------

DC_RECORD = (
    '<oai_dc:dc xmlns:oai_dc="{oai_dc}" xmlns:dc="{dc}" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="{oai_dc} http://www.openarchives.org/OAI/2.0/oai_dc.xsd">'
    "<dc:title>{title}</dc:title><dc:subject>{subject}</dc:subject><dc:date>2020</dc:date></oai_dc:dc>"
)
OAI_WRAPPED = (
    '<record xmlns="{oai}"><header><identifier>{oid}</identifier><datestamp>2019-05-01</datestamp></header>'
    "<metadata>{payload}</metadata></record>"
)
LIDO_RECORD = (
    '<lido:lido xmlns:lido="{lido}"><lido:lidoRecID>{oid}</lido:lidoRecID>'
    "<lido:title>{title}</lido:title><lido:classification>{cls}</lido:classification></lido:lido>"
)


def _dc(i: int) -> str:
    subject = "History of art" if i % 3 == 0 else "Archaeology"
    title = f"Record {i} &amp; more" if i == 4 else f"Record {i} — é"
    return DC_RECORD.format(oai_dc=OAI_DC, dc=DC, title=title, subject=subject)


def _lido(i: int) -> str:
    return LIDO_RECORD.format(
        lido=LIDO, oid=f"obj-{i}", title=f"Object {i}", cls="painting" if i % 2 else "statue"
    )


def _nt(i: int) -> str:
    kind = f"{PE}PE18_Dataset" if i % 2 else f"{CRM}E22_Man-Made_Object"
    s = f"<http://data.example.org/obj/{i}>"
    return (
        f"{s} <{RDF}type> <{kind}> .\n"
        f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "Object {i}"@en .\n'
        f"{s} <{CRM}P1_is_identified_by> <http://data.example.org/id/{i}> .\n"
        f"<http://data.example.org/id/{i}> <{RDF}type> <{CRM}E42_Identifier> .\n"
    )


DC_PROFILE = {
    "id": "dcsource",
    "name": "Dublin Core source",
    "nsprefix": "dcs",
    "description": "oai_dc as harvested",
    "api": {"protocol": "oai", "baseurl": "http://repo.example.org/oai", "metadata_prefix": "oai_dc"},
    "publish": {
        "fields": {"subject": "//dc:subject"},
        "namespaces": {"dc": DC},
        "sets": [
            {"spec": "topics:arthistory", "name": "Art history", "query": 'subject:"history of art"'},
            {"spec": "topics", "name": "Topics"},
        ],
    },
}
LIDO_PROFILE = {
    "id": "lidosource",
    "name": "LIDO source",
    "nsprefix": "lido",
    "api": {
        "protocol": "http",
        "connector": "xml-split",
        "url": "http://museum.example.org/export.xml",
        "format": "lido",
    },
    "transform": {"steps": [{"type": "x3ml", "mapping": "lido.x3ml"}]},
    "publish": {
        "fields": {"classification": "//lido:classification"},
        "namespaces": {"lido": LIDO},
        "sets": [
            {"spec": "paintings", "name": "Paintings", "query": "classification:painting AND type:PE18*"}
        ],
    },
}


@dataclass
class Fixture:
    """The store's content and what the publisher must answer about it."""

    datasources: list[Datasource]
    dc_ids: list[str] = field(default_factory=list)  # present records of dcsource (record ids)
    dc_deleted: list[str] = field(default_factory=list)
    lido_ids: list[str] = field(default_factory=list)
    lido_deleted: list[str] = field(default_factory=list)
    lido_transformed: dict[str, str] = field(default_factory=dict)  # id → N-Triples
    lido_broken: str = ""  # a native record without namespace: oai_dc only
    sets: dict[str, set[str]] = field(default_factory=dict)

    def identifier(self, record_id: str) -> str:
        return f"oai:{REPO}:{record_id}"


DC_COUNT, LIDO_COUNT = 23, 17


def build_fixture(store: MDStore) -> Fixture:
    """Two datasources; some records deleted by a second full harvest; sets known by construction."""
    dcs, lido = profile_from_dict(DC_PROFILE), profile_from_dict(LIDO_PROFILE)
    fx = Fixture([dcs, lido])
    unit = dcs.native_unit
    first = datetime(2024, 1, 1, tzinfo=UTC)
    tx = store.begin(unit, "full", nsprefix="dcs")
    inputs = []
    for i in range(DC_COUNT + 2):
        body = _dc(i)
        if i % 5 == 1:  # D-NET's stored form: the whole OAI record
            body = OAI_WRAPPED.format(oai=OAI, oid=f"oai:repo.example.org:{i}", payload=body)
        inputs.append(
            RecordInput(
                f"oai:repo.example.org:{i}",
                body,
                provenance={"datestamp": "2019-05-01", "baseURL": "http://repo.example.org/oai"},
            )
        )
    tx.upsert(inputs, when=first)
    tx.commit()
    # second full harvest: the last two records are gone (tombstones)
    tx = store.begin(unit, "full", nsprefix="dcs")
    tx.upsert(inputs[:DC_COUNT], when=datetime(2024, 2, 1, tzinfo=UTC))
    tx.commit()
    for i, record in enumerate(inputs):
        rid = make_record_id("dcs", record.original_id)
        (fx.dc_ids if i < DC_COUNT else fx.dc_deleted).append(rid)
    fx.sets["dcsource"] = set(fx.dc_ids + fx.dc_deleted)
    fx.sets["topics:arthistory"] = {
        make_record_id("dcs", f"oai:repo.example.org:{i}") for i in range(DC_COUNT) if i % 3 == 0
    }
    fx.sets["topics"] = set(fx.sets["topics:arthistory"])

    tx = store.begin(lido.native_unit, "full", nsprefix="lido")
    for i in range(LIDO_COUNT):
        tx.upsert([RecordInput(f"obj-{i}", _lido(i))], when=datetime(2024, 3, 1, i, tzinfo=UTC))
    tx.upsert(
        [RecordInput("obj-broken", "<object><title>No namespace</title></object>")],
        when=datetime(2024, 3, 2, tzinfo=UTC),
    )
    tx.delete(["obj-gone"], when=datetime(2024, 3, 3, tzinfo=UTC))
    tx.commit()
    fx.lido_ids = [make_record_id("lido", f"obj-{i}") for i in range(LIDO_COUNT)]
    fx.lido_broken = make_record_id("lido", "obj-broken")
    fx.lido_deleted = [make_record_id("lido", "obj-gone")]
    tx = store.begin(lido.transformed_unit, "full", stamp="transformed", nsprefix="lido")
    for i in range(LIDO_COUNT - 2):  # the last two are not transformed (yet)
        rid = make_record_id("lido", f"obj-{i}")
        fx.lido_transformed[rid] = _nt(i)
        tx.upsert([RecordInput(f"obj-{i}", _nt(i), id=rid)], when=datetime(2024, 4, 1, tzinfo=UTC))
    tx.commit()
    every = set(fx.lido_ids) | {fx.lido_broken} | set(fx.lido_deleted)
    fx.sets["lidosource"] = every
    fx.sets["lidosource:PE18_Dataset"] = {
        make_record_id("lido", f"obj-{i}") for i in range(LIDO_COUNT - 2) if i % 2
    }
    fx.sets["lidosource:E22_Man-Made_Object"] = {
        make_record_id("lido", f"obj-{i}") for i in range(LIDO_COUNT - 2) if not i % 2
    }
    fx.sets["paintings"] = set(fx.sets["lidosource:PE18_Dataset"])  # odd = painting and PE18
    return fx
