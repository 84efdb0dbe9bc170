"""Safe by default: each restriction of the xslt step proven with a malicious stylesheet or input.

Both processors get the same attacks where the language allows them. "Refused" means a
``MappingError`` that names the step and the place, and the secret never shows in any output.
"""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from mdstore.errors import MappingError
from tests.unit.transforms.conftest import stylesheet, write
from transforms.registry import build_chain

SECRET = "TOP-SECRET-3b1f"


@pytest.fixture
def secret_files(tmp_path: Path) -> dict[str, Path]:
    """A text and an XML file beside (not inside) the mappings directory."""
    text = write(tmp_path / "secret.txt", SECRET)
    xml = write(tmp_path / "secret.xml", f"<s>{SECRET}</s>")
    return {"text": text, "xml": xml}


@pytest.fixture
def http_server():
    """A local HTTP server that counts requests: no stylesheet may reach it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            hits.append(self.path)
            body = f"<s>{SECRET}</s>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def chain_for(mappings_dir: Path, text: str, name: str = "evil.xsl"):
    write(mappings_dir / name, text)
    return build_chain([{"type": "xslt", "mapping": name}], base_dir=mappings_dir, output="xml")


def run(mappings_dir: Path, text: str, record: bytes = b"<r/>") -> bytes:
    return chain_for(mappings_dir, text).apply(record, record_id="ds::1")


def copy_of(expression: str, version: str) -> str:
    return stylesheet(
        f'<xsl:template match="/"><out><xsl:copy-of select="{expression}"/></out></xsl:template>',
        version=version,
    )


def value_of(expression: str, version: str) -> str:
    return stylesheet(
        f'<xsl:template match="/"><out><xsl:value-of select="{expression}"/></out></xsl:template>',
        version=version,
    )


# --- reading files --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_documents_inside_the_mappings_directory_may_be_read(mappings_dir, version):
    write(mappings_dir / "lookup" / "codes.xml", "<codes><c>OK-INSIDE</c></codes>")
    function = "document" if version == "1.0" else "doc"
    out = run(mappings_dir, value_of(f"{function}('lookup/codes.xml')/codes/c", version))
    assert b"<out>OK-INSIDE</out>" in out


@pytest.mark.parametrize("version", ["1.0", "3.0"])
@pytest.mark.parametrize("uri", ["{abs}", "../secret.xml", "lookup/../../secret.xml", "file://{abs}"])
def test_documents_outside_are_refused(mappings_dir, secret_files, version, uri):
    uri = uri.format(abs=secret_files["xml"])
    function = "document" if version == "1.0" else "doc"
    with pytest.raises(MappingError) as info:
        run(mappings_dir, copy_of(f"{function}('{uri}')", version))
    assert "outside the mappings directory" in info.value.message
    assert info.value.step == "xslt evil.xsl"
    assert SECRET not in str(info.value)


def test_lxml_refuses_a_uri_computed_from_the_record(mappings_dir, secret_files):
    """The record names the file: only a run-time check can catch it, and lxml's resolver does."""
    record = f"<r><href>{secret_files['xml']}</href></r>".encode()
    with pytest.raises(MappingError, match="outside the mappings directory") as info:
        run(mappings_dir, copy_of("document(/r/href)", "1.0"), record)
    assert info.value.record_id == "ds::1"


def test_saxon_refuses_computed_uris_before_running(mappings_dir, secret_files):
    with pytest.raises(MappingError) as info:
        chain_for(mappings_dir, copy_of("doc(/r/href)", "3.0"))
    assert info.value.message == (
        "doc() is allowed only with one literal URI inside the mappings directory "
        "(pass other documents as parameters)"
    )
    assert info.value.location.startswith(f"{mappings_dir / 'evil.xsl'}:1")


def test_a_symbolic_link_cannot_lead_out(mappings_dir, secret_files):
    os.symlink(secret_files["xml"], mappings_dir / "innocent.xml")
    for version, function in (("1.0", "document"), ("3.0", "doc")):
        with pytest.raises(MappingError, match="outside the mappings directory"):
            run(mappings_dir, copy_of(f"{function}('innocent.xml')", version))


@pytest.mark.parametrize(
    "function",
    [
        "unparsed-text",
        "unparsed-text-lines",
        "unparsed-text-available",
        "json-doc",
        "collection",
        "doc-available",
    ],
)
def test_saxon_other_reading_functions_are_held_to_the_same_rule(mappings_dir, secret_files, function):
    with pytest.raises(MappingError, match="outside the mappings directory"):
        chain_for(mappings_dir, copy_of(f"{function}('{secret_files['text']}')", "3.0"))


def test_saxon_unparsed_text_inside_is_allowed(mappings_dir):
    write(mappings_dir / "note.txt", "INSIDE-TEXT")
    assert b"<out>INSIDE-TEXT</out>" in run(mappings_dir, value_of("unparsed-text('note.txt')", "3.0"))


@pytest.mark.parametrize("version", ["1.0", "3.0"])
@pytest.mark.parametrize("instruction", ["import", "include"])
def test_modules_outside_are_refused(mappings_dir, tmp_path, version, instruction):
    write(tmp_path / "outside.xsl", stylesheet("", version=version))
    with pytest.raises(MappingError) as info:
        chain_for(mappings_dir, stylesheet(f'<xsl:{instruction} href="../outside.xsl"/>', version=version))
    assert "outside the mappings directory" in info.value.message
    assert info.value.location == f"{mappings_dir / 'evil.xsl'}:1"


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_a_doctype_in_a_stylesheet_is_refused(mappings_dir, secret_files, version):
    text = f'<!DOCTYPE xsl:stylesheet [<!ENTITY s SYSTEM "{secret_files["text"]}">]>' + stylesheet(
        '<xsl:template match="/"><out>&s;</out></xsl:template>', version=version
    )
    with pytest.raises(MappingError, match="a DOCTYPE in a stylesheet is refused"):
        chain_for(mappings_dir, text)


# --- the network -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_no_network(mappings_dir, http_server, version):
    url, hits = http_server
    function = "document" if version == "1.0" else "doc"
    with pytest.raises(MappingError) as info:
        run(mappings_dir, copy_of(f"{function}('{url}/x.xml')", version))
    # lxml: libxslt's access control answers first; Saxon: the static check
    expected = (
        f"read rights for {url}/x.xml denied" if version == "1.0" else "mappings read no http: resources"
    )
    assert expected in info.value.message
    assert hits == []


def test_saxon_runtime_allows_the_file_protocol_only(http_server):
    """Belt and braces: even a call the static checks missed could not reach the network."""
    from saxonche import PySaxonApiError

    from transforms.saxon_xslt import saxon_processor

    url, hits = http_server
    processor, compiler = saxon_processor()
    executable = compiler.compile_stylesheet(stylesheet_text=copy_of(f"doc('{url}/x.xml')", "3.0"))
    with pytest.raises(PySaxonApiError, match="has been prohibited"):
        executable.transform_to_string(xdm_node=processor.parse_xml(xml_text="<r/>"))
    assert hits == []


# --- writing files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "element",
    [
        '<exsl:document href="{target}"><x/></exsl:document>',
        '<xsl:document href="{target}"><x/></xsl:document>',
    ],
)
def test_lxml_writes_no_files(mappings_dir, tmp_path, element):
    target = tmp_path / "written.xml"
    body = f'<xsl:template match="/"><out>{element.format(target=target)}</out></xsl:template>'
    text = stylesheet(
        body,
        version="1.1",
        head_extra='xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl"',
    )
    with pytest.raises(MappingError, match=f"write rights for {target} denied"):
        run(mappings_dir, text)
    assert not target.exists()


def test_saxon_result_document_is_refused(mappings_dir, tmp_path):
    target = tmp_path / "written.xml"
    body = (
        f'<xsl:template match="/"><out/><xsl:result-document href="{target.as_uri()}"><x/>'
        "</xsl:result-document></xsl:template>"
    )
    with pytest.raises(MappingError) as info:
        chain_for(mappings_dir, stylesheet(body, version="3.0"))
    assert (
        info.value.message
        == "xsl:result-document is refused: mappings write no files and run no dynamic code"
    )
    assert not target.exists()


# --- escaping the rules by other means (Saxon) -----------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("parse-xml('&lt;x/&gt;')", "parse-xml() is refused in mappings"),
        ("parse-xml-fragment('x')", "parse-xml-fragment() is refused in mappings"),
        ("environment-variable('HOME')", "environment-variable() is refused in mappings"),
        ("available-environment-variables()", "available-environment-variables() is refused in mappings"),
        ("function-lookup(xs:QName('fn:doc'), 1)('x.xml')", "function-lookup() is refused in mappings"),
        ("transform(map{})", "transform() is refused in mappings"),
        ("fn:doc#1('x.xml')", "fn:doc() is allowed only with one literal URI"),
        (
            "Q{http://www.w3.org/2005/xpath-functions}unparsed-text(string(/))",
            "Q{http://www.w3.org/2005/xpath-functions}unparsed-text() is allowed only",
        ),
        (
            "saxon:system-id()",
            "saxon:system-id() is refused: only standard, cc: and the stylesheet's own functions",
        ),
    ],
)
def test_saxon_refuses_escape_hatches(mappings_dir, expression, message):
    text = value_of(expression, "3.0").replace(
        "<xsl:stylesheet ", '<xsl:stylesheet xmlns:saxon="http://saxon.sf.net/" '
    )
    with pytest.raises(MappingError) as info:
        chain_for(mappings_dir, text)
    assert info.value.message.startswith(
        message.replace("fn:doc()", "doc()").replace(
            "Q{http://www.w3.org/2005/xpath-functions}unparsed-text()", "unparsed-text()"
        )
    )


def test_parse_xml_with_an_external_entity_never_runs(mappings_dir, secret_files):
    doc = (
        f"&lt;!DOCTYPE x [&lt;!ENTITY e SYSTEM &quot;{secret_files['text']}&quot;&gt;]&gt;"
        "&lt;x&gt;&amp;e;&lt;/x&gt;"
    )
    with pytest.raises(MappingError, match=r"parse-xml\(\) is refused"):
        chain_for(mappings_dir, copy_of(f"parse-xml('{doc}')", "3.0"))


@pytest.mark.parametrize(
    "body",
    [
        '<xsl:template match="/"><xsl:evaluate xpath="string(/r)"/></xsl:template>',
        '<xsl:template match="/" expand-text="yes"><out>{{doc("{secret}")}}</out></xsl:template>',
        '<xsl:template match="/" expand-text="yes"><out><b/>after {{unparsed-text("{secret}")}}</out>'
        "</xsl:template>",
        '<xsl:template match="/"><out a="{{doc(\'{secret}\')}}"/></xsl:template>',
        '<xsl:template match="/"><xsl:source-document href="{secret}"><out/></xsl:source-document>'
        "</xsl:template>",
        '<xsl:template match="/"><xsl:if test="doc(\'{secret}\')" use-when="true()"><out/></xsl:if>'
        "</xsl:template>",
    ],
)
def test_saxon_finds_reads_in_every_place_xpath_may_hide(mappings_dir, secret_files, body):
    with pytest.raises(MappingError):
        chain_for(mappings_dir, stylesheet(body.format(secret=secret_files["text"]), version="3.0"))


def test_saxon_checks_imported_modules_too(mappings_dir, secret_files):
    write(
        mappings_dir / "lib" / "sneaky.xsl",
        stylesheet(
            f'<xsl:function name="cc:x"><xsl:sequence select="unparsed-text(\'{secret_files["text"]}\')"/>'
            "</xsl:function>",
            version="3.0",
        ),
    )
    with pytest.raises(MappingError) as info:
        chain_for(mappings_dir, stylesheet('<xsl:import href="lib/sneaky.xsl"/>', version="3.0"))
    assert info.value.location.startswith(f"{mappings_dir / 'lib' / 'sneaky.xsl'}:1")


# --- untrusted records -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_records_with_external_entities_are_refused_and_leak_nothing(mappings_dir, secret_files, version):
    from mdstore.errors import RecordParseError

    record = f'<!DOCTYPE r [<!ENTITY e SYSTEM "{secret_files["text"]}">]>\n<r>before &e; after</r>'.encode()
    chain = chain_for(mappings_dir, copy_of("/", version))
    with pytest.raises(RecordParseError) as info:
        chain.apply(record, record_id="ds::1")
    assert str(info.value) == (
        "ds::1: xslt evil.xsl: line 2: entity reference &e; is refused: harvested records get no entity "
        "expansion"
    )


@pytest.mark.parametrize("version", ["1.0", "3.0"])
def test_entity_expansion_bombs_are_refused(mappings_dir, version):
    from mdstore.errors import RecordParseError

    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    record = f"<!DOCTYPE r [{entities}]><r>&i;</r>".encode()
    chain = chain_for(mappings_dir, value_of("string-length(/r)", version))
    with pytest.raises(RecordParseError, match="Maximum entity amplification factor exceeded"):
        chain.apply(record, record_id="ds::1")


def test_internal_entities_without_references_are_harmless(mappings_dir):
    record = b'<!DOCTYPE r [<!ENTITY unused "x">]><r>plain</r>'
    assert b"<out>plain</out>" in run(mappings_dir, value_of("/r", "1.0"), record)


def test_a_record_that_is_not_xml_is_a_located_parse_error(mappings_dir):
    from mdstore.errors import RecordParseError

    with pytest.raises(RecordParseError) as info:
        run(mappings_dir, copy_of("/", "1.0"), b"<r>\n<unclosed></r>")
    assert info.value.step == "xslt evil.xsl"
    assert info.value.location == "line 2, column 15"
