"""Set-up shared by the curator tests: records files into a real SQLite MDStore, a registry, a transform.

Records files have the shape of ``contentcloud/demo/sample-records.xml``: ``<records>`` of
``<record id="…" [deleted="true"]>`` each wrapping one metadata record, stored as the body.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

from lxml import etree

from mdstore import RecordInput, UnitKey, open_store

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT / "tests" / "fixtures" / "curator"
VARIED_RECORDS = FIXTURES / "oai_dc-varied-records.xml"
DEMO_RECORDS = PROJECT / "contentcloud" / "demo" / "sample-records.xml"
SHIPPED_XSL = PROJECT / "mappings" / "oai_dc2pe.xsl"

PROFILE = """id: {id}
name: Curator test source
nsprefix: {id}
api: {{protocol: oai, baseurl: "http://127.0.0.1:9/oai", metadata_prefix: oai_dc}}
transform:
  max_error_rate: 0.5
  steps:
    - {{type: xslt, mapping: oai_dc2pe.xsl}}
"""


def read_records(path: Path) -> list[tuple[str, bytes | None]]:
    """``(original id, body or None for a deleted record)`` in file order."""
    root = etree.parse(str(path)).getroot()
    found: list[tuple[str, bytes | None]] = []
    for record in root:
        if not isinstance(record.tag, str):
            continue
        if record.get("deleted") == "true":
            found.append((record.get("id"), None))
            continue
        body = copy.deepcopy(next(child for child in record if isinstance(child.tag, str)))
        etree.cleanup_namespaces(body)
        found.append((record.get("id"), etree.tostring(body, encoding="UTF-8")))
    return found


def collect(uri: str, datasource: str, records: list[tuple[str, bytes | None]]) -> None:
    """One committed native version holding the present records."""
    with open_store(uri) as store:
        tx = store.begin(UnitKey(datasource, "oai_dc"), "full", nsprefix=datasource)
        tx.upsert(RecordInput(oid, body) for oid, body in records if body is not None)
        tx.commit()


def make_setup(
    tmp_path: Path,
    *,
    datasource: str = "cur",
    records: Path = VARIED_RECORDS,
    profile: str | None = None,
    transform: bool = True,
) -> dict:
    """Registry, store and (optionally) a transformed version made by the real transform step.

    Returns ``env`` (for the CLI), ``settings``, ``uri`` and the ``registry`` directory.
    """
    from contentcloud.pipeline.transform import run_transform
    from contentcloud.settings import load_settings

    registry = tmp_path / "registry"
    registry.mkdir(exist_ok=True)
    (registry / f"{datasource}.yaml").write_text(profile or PROFILE.format(id=datasource))
    uri = f"sqlite:///{tmp_path / 'mdstore.sqlite'}"
    env = {
        "CONTENTCLOUD_MDSTORE": uri,
        "CONTENTCLOUD_REGISTRY": str(registry),
        "CONTENTCLOUD_MAPPINGS": str(PROJECT / "mappings"),
        "CONTENTCLOUD_VAR": str(tmp_path / "var"),
        "CONTENTCLOUD_INDEX": f"sqlite:///{tmp_path / 'index.sqlite'}",
    }
    settings = load_settings({}, env, base_dir=tmp_path)
    collect(uri, datasource, read_records(records))
    if transform:
        summary = run_transform(datasource, settings)
        assert summary.committed if hasattr(summary, "committed") else summary.version_out, summary.as_dict()
    return {"env": env, "settings": settings, "uri": uri, "registry": registry}


def demo_setup(tmp_path: Path) -> dict:
    """The demo datasource (``registry/demo.yaml``) with the bundled sample records, transformed."""
    registry = tmp_path / "registry"
    registry.mkdir(exist_ok=True)
    shutil.copy(PROJECT / "registry" / "demo.yaml", registry / "demo.yaml")
    return make_setup(
        tmp_path,
        datasource="demo",
        records=DEMO_RECORDS,
        profile=(PROJECT / "registry" / "demo.yaml").read_text(),
    )


def draft_stylesheet(
    tmp_path: Path,
    *,
    drop_subjects: bool = True,
    accept_any_record: bool = True,
    refuse_coverage: bool = False,
    name: str = "draft.xsl",
) -> Path:
    """A draft made from the shipped stylesheet: subjects no longer mapped, records without
    oai_dc:dc accepted (empty graph), or records with dc:coverage refused."""
    text = SHIPPED_XSL.read_text(encoding="utf-8")
    if drop_subjects:
        start = text.index('      <xsl:for-each select="dc:subject[normalize-space()]">')
        end = text.index("</xsl:for-each>", start) + len("</xsl:for-each>")
        text = text[:start] + text[end:]
    if accept_any_record:
        text = text.replace(
            '<xsl:message terminate="yes">no oai_dc:dc element in the record</xsl:message>', ""
        )
    if refuse_coverage:
        text = text.replace(
            '<xsl:template match="oai_dc:dc">',
            '<xsl:template match="oai_dc:dc"><xsl:if test="dc:coverage">'
            '<xsl:message terminate="yes">coverage is not mapped yet</xsl:message></xsl:if>',
        )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
