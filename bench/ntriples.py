"""RDF/XML → N-Triples after the XSLT step: the current conversion beside the alternatives tried
for issue 18 (transform with N-Triples output ≥ 0.6× the bare lxml loop), in one run.

Each record of the synthetic oai_dc set of ``bench/transform.py`` goes through
``mappings/oai_dc2pe.xsl`` (not timed), then through one conversion, timed in CPU time of this
process, so the conversion runs interleaved with the stylesheet as it does in the step:

* ``pyoxigraph`` — what the step does (``transforms.rdf.serialize_payload``): serialize the result
  tree, parse the RDF/XML and write N-Triples in pyoxigraph;
* ``pyoxigraph lenient + guard`` — the same parse without pyoxigraph's IRI and language-tag
  validation (``lenient=True``), made exact by a guard: no ``ID``/``xml:base`` in the RDF/XML and
  every line of the output matched by one regular expression of plain absolute IRIs and simple
  language tags; otherwise the strict conversion;
* ``libxslt converter`` — ``bench/ntriples_xslt.py``, a generic RDF/XML → N-Triples XSLT 1.0
  stylesheet applied to the result tree in memory, with pyoxigraph as its fallback;
* two lower bounds that are *not* exact (no checks at all): the libxslt converter without its IRI
  checks, and a Python walker over the lxml tree.

``--check`` first asserts that the exact alternatives give the very bytes of the current path on
the synthetic records, on every record of the shared corpora (``../shared/oai-pmh``,
``../shared/parthenos``, the demo records) that the mapping accepts, and on hostile RDF/XML.

    python bench/ntriples.py [--records 3000] [--repeat 2] [--check]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from bench.ntriples_xslt import UNCHECKED, tree_to_ntriples  # noqa: E402
from bench.transform import MAPPINGS, oai_dc_record  # noqa: E402
from transforms.payload import Payload, RecordContext, safe_parser  # noqa: E402
from transforms.rdf import serialize_payload  # noqa: E402
from transforms.registry import build_chain  # noqa: E402
from transforms.xslt import run_params  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OAI = "http://www.openarchives.org/OAI/2.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

# --- pyoxigraph lenient + guard ----------------------------------------------------------------
_CHARS = rb"A-Za-z0-9\-._~!$&'()*+,;=:@/?"
_PART = rb"(?:[" + _CHARS + rb"]*(?:%[0-9A-Fa-f]{2}[" + _CHARS + rb"]*)*)"
_IRI = (
    rb"<[A-Za-z][A-Za-z0-9+.\-]*:(?://[A-Za-z0-9._~\-]+(?::[0-9]*)?(?=[/?#>])|(?!//))"
    + _PART
    + rb"(?:#"
    + _PART
    + rb")?>"
)
_LITERAL = rb'"[^"\\\n\r]*(?:\\.[^"\\\n\r]*)*"(?:@[a-z]{2,3}(?:-(?:[a-z]{2}|[0-9]{3}))?|\^\^' + _IRI + rb")?"
#: N-Triples whose IRIs and language tags pyoxigraph's strict parse accepts unchanged
_STRICT_SAFE = re.compile(rb"(?:" + _IRI + rb" " + _IRI + rb" (?:" + _IRI + rb"|" + _LITERAL + rb") \.\n)*")


def lenient_guarded(payload: Payload) -> bytes | None:
    import pyoxigraph as ox

    data = payload.xml_bytes()
    if data[:1] != b"<" or data[1:2] == b"\0" or b"ID" in data or b"xml:base" in data:
        return None
    try:
        out = ox.serialize(
            ox.parse(data, format=ox.RdfFormat.RDF_XML, lenient=True), format=ox.RdfFormat.N_TRIPLES
        )
    except SyntaxError:
        return None
    return out if _STRICT_SAFE.fullmatch(out) else None


def xslt_converter(payload: Payload) -> bytes | None:
    return tree_to_ntriples(payload.tree())


def native_walker(payload: Payload) -> bytes | None:
    return _native().convert(payload.tree())


def _native():
    """``bench/ntriples_native.c`` compiled here with the system C compiler against lxml's headers
    (a prototype for this measurement; nothing in the project builds or imports it)."""
    import importlib.util
    import subprocess
    import sysconfig
    import tempfile

    global _NATIVE
    if _NATIVE is None:
        import lxml

        target = Path(tempfile.mkdtemp()) / f"_ntwalk{sysconfig.get_config_var('EXT_SUFFIX')}"
        includes = [f"-I{sysconfig.get_paths()['include']}"] + [f"-I{path}" for path in lxml.get_include()]
        source = str(Path(__file__).with_name("ntriples_native.c"))
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(target), source, *includes], check=True)
        spec = importlib.util.spec_from_file_location("_ntwalk", target)
        _NATIVE = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_NATIVE)
    return _NATIVE


_NATIVE = None


def with_fallback(fast: Callable[[Payload], bytes | None]) -> Callable[[Payload], bytes]:
    """``fast``, or the step's pyoxigraph conversion when ``fast`` declines the record."""

    def convert(payload: Payload) -> bytes:
        out = fast(payload)
        return out if out is not None else serialize_payload(payload, "ntriples")

    return convert


def xslt_unchecked(payload: Payload) -> bytes:
    return bytes(UNCHECKED(payload.tree()))


_TYPE = f"<{RDF}type>"
_ABOUT, _RESOURCE, _DATATYPE = f"{{{RDF}}}about", f"{{{RDF}}}resource", f"{{{RDF}}}datatype"
_NAMES: dict[str, str] = {}


def _iri(tag: str) -> str:
    name = _NAMES.get(tag)
    if name is None:
        namespace, _, local = tag[1:].partition("}")
        name = _NAMES[tag] = f"<{namespace}{local}>"
    return name


def python_walker(payload: Payload) -> bytes:
    """The flat shape of ``oai_dc2pe.xsl`` only, no checks, no escapes: a lower bound."""
    out = []
    for node in payload.tree().getroot():
        s = f"<{node.get(_ABOUT)}> "
        out.append(f"{s}{_TYPE} {_iri(node.tag)} .\n")
        for prop in node:
            resource = prop.get(_RESOURCE)
            if resource is not None:
                out.append(f"{s}{_iri(prop.tag)} <{resource}> .\n")
            else:
                datatype = prop.get(_DATATYPE)
                end = f'"^^<{datatype}> .\n' if datatype else '" .\n'
                out.append(f'{s}{_iri(prop.tag)} "{prop.text or ""}{end}')
    return "".join(out).encode()


ALTERNATIVES: dict[str, Callable[[Payload], bytes]] = {
    "pyoxigraph (the step now)": lambda payload: serialize_payload(payload, "ntriples"),
    "pyoxigraph lenient + guard": with_fallback(lenient_guarded),
    "libxslt converter": with_fallback(xslt_converter),
    "libxslt converter, no IRI checks (not exact)": xslt_unchecked,
    "Python walker, no checks (not exact)": python_walker,
}
#: the exact alternatives: their fast path (``None``: declined, pyoxigraph converts)
EXACT: dict[str, Callable[[Payload], bytes | None]] = {
    "pyoxigraph lenient + guard": lenient_guarded,
    "libxslt converter": xslt_converter,
}
NATIVE = "native walker in C (prototype, --native)"

# --- corpora ------------------------------------------------------------------------------------


def corpus_bodies() -> Iterator[tuple[str, bytes]]:
    """Every OAI record of the shared corpora, the demo records (in an OAI envelope) and the
    PARTHENOS sample files."""
    for path in sorted((SHARED / "oai-pmh").glob("**/*.xml")):
        try:
            root = etree.fromstring(path.read_bytes(), safe_parser())
        except etree.XMLSyntaxError:
            continue
        for k, record in enumerate(root.iter(f"{{{OAI}}}record")):
            yield f"{path.relative_to(SHARED)}#{k}", etree.tostring(record)
    demo = ROOT / "contentcloud" / "demo" / "sample-records.xml"
    for k, record in enumerate(etree.fromstring(demo.read_bytes(), safe_parser())):
        if not isinstance(record.tag, str):
            continue
        body = b"".join(etree.tostring(child) for child in record if isinstance(child.tag, str))
        yield (
            f"demo#{k}",
            f'<record xmlns="{OAI}"><header><identifier>{record.get("id")}</identifier></header>'.encode()
            + b"<metadata>"
            + body
            + b"</metadata></record>",
        )
    for path in sorted((SHARED / "parthenos").glob("**/*.xml")):
        yield str(path.relative_to(SHARED)), path.read_bytes()


HOSTILE = [
    '<e:T rdf:about="http://a/s"><e:p><e:U rdf:about="http://a/o"><e:q>v</e:q></e:U></e:p><e:r>x</e:r></e:T>',
    '<rdf:Description rdf:about="http://a/s"><e:p xml:lang="EN-gb">v</e:p><e:p xml:lang="">w</e:p>'
    "</rdf:Description>",
    '<rdf:Description rdf:about="http://a/s"><e:p>a"b\\c&#10;d&#13;e&#9;f\x7fg\u0080h\ufeffi</e:p></rdf:Description>',
    '<rdf:Description rdf:about="http://a/s"><e:p rdf:datatype="http://www.w3.org/2001/XMLSchema#string">v</e:p>'
    "<e:p/><e:p></e:p></rdf:Description>",
    '<rdf:Description rdf:about="http://a/s"><e:p xml:lang="en" rdf:datatype="http://x/d">v</e:p></rdf:Description>',
    '<rdf:Description rdf:about="http://a/./b/../c"><e:p rdf:resource="http://A:80/%zz"/></rdf:Description>',
    '<rdf:Description rdf:about="http://a:b:c/"><e:p rdf:resource="foo:"/></rdf:Description>',
    '<rdf:Description rdf:about="urn:a:b"><e:p rdf:resource="http://a/b c"/></rdf:Description>',
    '<rdf:Description rdf:about="http://a/#b#c"><e:p rdf:resource="http://a/[x]"/></rdf:Description>',
    '<rdf:Description rdf:about="http:///x"><e:p rdf:resource="http://a/%aF"/></rdf:Description>',
    '<rdf:Description rdf:about="http://a/b"><e:p xml:lang="en-x">v</e:p></rdf:Description>',
    '<rdf:Description rdf:about="http://a/b"><e:p xml:lang="en_GB">v</e:p></rdf:Description>',
    '<rdf:Description rdf:about="http://a/b"><e:p rdf:resource="http://a/b">  </e:p><e:q>  </e:q>'
    "</rdf:Description>",
    '<rdf:Description rdf:about="http://a/b?x#y?z/"><e:p rdf:resource="http://u@a:/"/></rdf:Description>',
    '<rdf:Description rdf:about="http://a/b"><e:p rdf:resource="http://a/é"/></rdf:Description>',
    '<rdf:Description rdf:about="rel"><e:p rdf:resource="http://a/"/></rdf:Description>',
    '<rdf:Description rdf:ID="x" xml:base="http://a/"><e:p>v</e:p></rdf:Description>',
    '<rdf:Description rdf:nodeID="b1"><e:p rdf:parseType="Resource"><e:q>v</e:q></e:p></rdf:Description>',
    '<rdf:Description rdf:about="http://a/b" e:attr="v"><e:p rdf:parseType="Literal"><b>x</b></e:p>'
    "</rdf:Description>",
    '<rdf:Description rdf:about="http://a/b"><rdf:li>v</rdf:li><!-- c --><e:p>a<!-- c -->b</e:p>'
    "</rdf:Description>",
    "<rdf:Description><e:p>blank subject</e:p></rdf:Description>",
]


#: results whose serialization is not their tree: what pyoxigraph reads differs from what a walker sees
STYLESHEETS = [
    (
        "disable-output-escaping",
        '<xsl:output method="xml"/>',
        '<e:p><xsl:value-of disable-output-escaping="yes" select="\'a&lt;e:q&gt;b&lt;/e:q&gt;\'"/></e:p>',
    ),
    ("html output", '<xsl:output method="html"/>', "<e:p>a&amp;b</e:p><e:br/>"),
    ("ISO-8859-1 output", '<xsl:output method="xml" encoding="ISO-8859-1"/>', "<e:p>é€</e:p>"),
    ("doctype", '<xsl:output method="xml" doctype-system="x.dtd"/>', "<e:p>v</e:p>"),
]


N_HOSTILE = len(HOSTILE) + 1 + len(STYLESHEETS)


def hostile_payloads() -> Iterator[tuple[str, Payload]]:
    head = f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:e="http://e/">'
    for k, body in enumerate(HOSTILE):
        data = (head + body + "</rdf:RDF>").encode()
        yield f"hostile#{k}", Payload.from_tree(etree.fromstring(data, safe_parser()).getroottree())
    yield "not rdf:RDF", Payload.from_tree(etree.fromstring(b"<x/>").getroottree())
    for label, output, body in STYLESHEETS:
        stylesheet = etree.XSLT(
            etree.XML(
                f'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
                f'xmlns:rdf="{RDF}" xmlns:e="http://e/">{output}<xsl:template match="/"><rdf:RDF>'
                f'<rdf:Description rdf:about="http://a/s">{body}</rdf:Description></rdf:RDF>'
                f"</xsl:template></xsl:stylesheet>".encode()
            )
        )
        yield f"hostile {label}", Payload.from_tree(stylesheet(etree.XML(b"<a/>")))


def _same_blank_nodes(text: bytes | str) -> bytes | str:
    """pyoxigraph names blank nodes at random on every parse: number them in order of appearance."""
    if not isinstance(text, bytes) or b"_:" not in text:
        return text
    names: dict[bytes, bytes] = {}
    return re.sub(rb"_:[A-Za-z0-9]+", lambda m: names.setdefault(m.group(), b"_:b%d" % len(names)), text)


def check(chain, n: int) -> None:
    """Assert the exact alternatives give the current path's bytes (or its error)."""
    sources = [(f"synthetic#{i}", oai_dc_record(i)) for i in range(n)] + list(corpus_bodies())
    cases, refused = [], 0
    for name, body in sources:
        try:
            cases.append((name, chain.apply_payload(Payload.from_body(body), RecordContext(name, name))))
        except Exception:  # the mapping refuses the record: nothing to convert
            refused += 1
    cases += list(hostile_payloads())
    hostile, direct = dict.fromkeys(EXACT, 0), dict.fromkeys(EXACT, 0)
    blind: dict[str, bool] = {}
    for name, payload in cases:
        try:
            expected: bytes | str = serialize_payload(Payload.from_tree(payload.tree()), "ntriples")
        except Exception as exc:
            expected = f"error {type(exc).__name__}"
        for alternative, fast in EXACT.items():
            if alternative == "libxslt converter" and name.startswith("hostile "):
                blind[name] = fast(Payload.from_tree(payload.tree())) == expected
                continue  # a stylesheet sees the tree, not how it is serialized (see STYLESHEETS)
            declined = fast(Payload.from_tree(payload.tree())) is None
            if name.startswith(("hostile", "not rdf")):
                hostile[alternative] += declined
            else:
                direct[alternative] += not declined
            try:
                got: bytes | str = ALTERNATIVES[alternative](Payload.from_tree(payload.tree()))
            except Exception as exc:
                got = f"error {type(exc).__name__}"
            assert _same_blank_nodes(got) == _same_blank_nodes(expected), (
                f"{alternative} differs on {name}: {got!r} != {expected!r}"
            )
    print(
        f"# check: {len(cases)} trees ({n} synthetic, {len(cases) - n - N_HOSTILE} from the corpora, "
        f"{N_HOSTILE} hostile; {refused} corpus records refused by the mapping): the exact "
        f"alternatives give the current bytes on all"
    )
    blind_names = {"libxslt converter"}
    for alternative in EXACT:
        print(
            f"#   {alternative}: converted {direct[alternative]} of the {len(cases) - N_HOSTILE} "
            f"records itself, declined {hostile[alternative]} of the {N_HOSTILE} hostile trees"
            + (
                f" (not counting the {len(blind)} results of STYLESHEETS)"
                if alternative in blind_names
                else ""
            )
        )
    wrong = [name.removeprefix("hostile ") for name, same in blind.items() if not same]
    print(
        f"#   the libxslt converter sees the tree, not its serialization: on {len(wrong)} of the "
        f"{len(blind)} STYLESHEETS results it gives other bytes than the step ({', '.join(wrong)})"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--check", action="store_true")
    ap.add_argument(
        "--native", action="store_true", help="also the C prototype (needs cc and Python headers)"
    )
    ap.add_argument(
        "--step",
        type=int,
        metavar="N",
        help="then run bench/transform.py's XSLT pairs on N records with the step converting through "
        "the C prototype (with --native): what the step's ratio to the bare loop would be",
    )
    args = ap.parse_args()
    if args.native:
        _native()  # compiled and loaded before any timing
        EXACT[NATIVE] = native_walker
        ALTERNATIVES[NATIVE] = with_fallback(native_walker)
    chain = build_chain(
        [{"type": "xslt", "mapping": "oai_dc2pe.xsl"}],
        base_dir=MAPPINGS,
        params=run_params("bench"),
        output="xml",
    )
    if args.check:
        check(chain, min(args.records, 500))
    bodies = [oai_dc_record(i) for i in range(args.records)]
    clock = time.process_time
    print(f"# {args.records} records, CPU µs a record of the conversion, interleaved with the stylesheet")
    print(f"# load average before: {os.getloadavg()[0]:.1f}")
    results: dict[str, list[float]] = {name: [] for name in ALTERNATIVES}
    for _ in range(args.repeat):
        for name, convert in ALTERNATIVES.items():
            spent = 0.0
            for i, body in enumerate(bodies):
                payload = chain.apply_payload(Payload.from_body(body), RecordContext(str(i), str(i)))
                start = clock()
                convert(payload)
                spent += clock() - start
            results[name].append(spent / len(bodies) * 1e6)
    for name, values in results.items():
        print(f"{name:48s} {' '.join(f'{v:8.1f}' for v in values)} µs")
    print(f"# load average after: {os.getloadavg()[0]:.1f}")
    if args.native and args.step:
        step_with_native(args.step, args.repeat)
    return 0


def step_with_native(n: int, repeat: int) -> None:
    """The transform step with its N-Triples conversion swapped for the C prototype (declined
    records through pyoxigraph), measured by bench/transform.py's own pairs."""
    import tempfile

    import transforms.registry
    from bench._common import print_rows
    from bench.transform import bench_xslt
    from mdstore import open_store

    fast = with_fallback(native_walker)

    def serialize(payload: Payload, output: str, *, record_id: str | None = None) -> bytes:
        if output == "ntriples" and payload.is_xml:
            return fast(payload)
        return serialize_payload(payload, output, record_id=record_id)

    transforms.registry.serialize_payload = serialize
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-ntriples-") as name,
            open_store(f"sqlite:///{name}/mdstore.sqlite") as store,
        ):
            rows = bench_xslt(store, n, repeat)
    finally:
        transforms.registry.serialize_payload = serialize_payload
    print_rows(f"The XSLT step with the C prototype converting to N-Triples, {n} records", rows)


if __name__ == "__main__":
    sys.exit(main())
