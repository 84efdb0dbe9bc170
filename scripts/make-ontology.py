#!/usr/bin/env python3
"""Write schemas/ontology/pe-crm.json: the compact PE/CIDOC-CRM ontology ``contentcloud map check`` reads.

Input: the RDFS encodings by FORTH-ICS / CIDOC CRM SIG that PARTHENOS redistributed (see
``schemas/ontology/NOTICE.md``), read from ``../shared/parthenos/ontologies`` or a directory given as
the first argument. Output: every class with its label and direct superclasses, every property with
its label, domain, range and direct superproperties, plus the namespaces the checker treats as
closed (a term in them that is not defined is an error). Deterministic: sorted keys, no dates.

Why a JSON digest and not the RDFS files: the checker needs only these few facts, and loading them
from JSON takes milliseconds where parsing 450 KB of RDF/XML takes a second.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import rdflib
from rdflib.namespace import RDF, RDFS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "schemas" / "ontology" / "pe-crm.json"
DEFAULT_SOURCE = ROOT.parent / "shared" / "parthenos" / "ontologies"

#: (file, namespace it defines, version) in the order they are merged
SOURCES = [
    (
        "cidoc_crm_v6.2.1-2018April.rdfs",
        "http://www.cidoc-crm.org/cidoc-crm/",
        "CIDOC CRM 6.2.1 (RDFS 2018-04-26)",
    ),
    ("CRMpc_v1.1.1.rdfs", "http://www.cidoc-crm.org/cidoc-crm/", "CRMpc 1.1.1 (2018-09-14)"),
    ("CRMdig_v3.2.2.rdfs", "http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/", "CRMdig 3.2.2 (2018-09)"),
    ("CRMpe_v3.1.1.rdfs", "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/", "CRMpe 3.1.1 (2018-09-14)"),
    (
        "CRMext4SKOSandLabel_v1.2.rdfs",
        "http://www.cidoc-crm.org/cidoc-crm/",
        "CRMext4SKOSandLabel 1.2 (2015-03-03)",
    ),
]

PREFIXES = {
    "crm": "http://www.cidoc-crm.org/cidoc-crm/",
    "crmpe": "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/",
    "crmdig": "http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/",
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "dcterms": "http://purl.org/dc/terms/",
}

#: terms used beside the CRM family that the checker accepts without domain or range (RDF, RDFS,
#: OWL and SKOS basics); the SKOS terms CRMext4SKOSandLabel constrains are defined there instead
OPEN_TERMS = [
    "rdf:type",
    "rdf:value",
    "rdfs:comment",
    "rdfs:seeAlso",
    "rdfs:isDefinedBy",
    "owl:sameAs",
    "skos:Concept",
    "skos:ConceptScheme",
    "skos:inScheme",
    "skos:notation",
    "skos:definition",
    "skos:note",
    "skos:scopeNote",
    "skos:narrower",
    "skos:related",
    "skos:exactMatch",
    "skos:closeMatch",
    "skos:broadMatch",
    "skos:narrowMatch",
    "skos:hasTopConcept",
    "skos:topConceptOf",
]


def expand(curie: str) -> str:
    prefix, _, local = curie.partition(":")
    return PREFIXES[prefix] + local


def english_label(graph: rdflib.Graph, term: rdflib.URIRef) -> str:
    labels = list(graph.objects(term, RDFS.label))
    for label in labels:
        if getattr(label, "language", None) == "en":
            return str(label)
    return str(labels[0]) if labels else ""


def main(source_dir: Path) -> None:
    classes: dict[str, dict] = {}
    properties: dict[str, dict] = {}
    sources = []
    for name, namespace, version in SOURCES:
        graph = rdflib.Graph().parse(source_dir / name, format="xml")
        sources.append({"file": name, "namespace": namespace, "version": version})
        for term in sorted(set(graph.subjects(RDF.type, RDFS.Class))):
            entry = classes.setdefault(str(term), {"label": "", "super": []})
            entry["label"] = entry["label"] or english_label(graph, term)
            entry["super"] = sorted(
                {*entry["super"], *(str(s) for s in graph.objects(term, RDFS.subClassOf))}
            )
        for term in sorted(set(graph.subjects(RDF.type, RDF.Property))):
            entry = properties.setdefault(
                str(term), {"label": "", "domain": None, "range": None, "super": []}
            )
            entry["label"] = entry["label"] or english_label(graph, term)
            domain = graph.value(term, RDFS.domain)
            range_ = graph.value(term, RDFS.range)
            entry["domain"] = str(domain) if domain is not None else entry["domain"]
            entry["range"] = str(range_) if range_ is not None else entry["range"]
            entry["super"] = sorted(
                {*entry["super"], *(str(s) for s in graph.objects(term, RDFS.subPropertyOf))}
            )
    data = {
        "about": "Compact digest of the PE/CIDOC-CRM RDFS encodings for `contentcloud map check`; "
        "written by scripts/make-ontology.py; see NOTICE.md for sources and licences.",
        "sources": sources,
        "prefixes": PREFIXES,
        "closed_namespaces": sorted({PREFIXES["crm"], PREFIXES["crmpe"], PREFIXES["crmdig"]}),
        "open_terms": sorted(expand(t) for t in OPEN_TERMS),
        "literal_types": [str(RDFS.Literal), PREFIXES["xsd"] + "*", str(RDF) + "langString"],
        "classes": dict(sorted(classes.items())),
        "properties": dict(sorted(properties.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {len(classes)} classes, {len(properties)} properties")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE)
