"""Synthetic PARTHENOS Entities records (N-Triples), shaped like the X3ML mappings' output.

Deterministic per number: record ``i`` always has the same title, subjects, actors, places, dates,
language, rights and landing page, drawn from small vocabularies so that facets, phrases, prefixes,
accents and date ranges all have something to find. Used by the index tests and ``bench/index.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

CRM = "http://www.cidoc-crm.org/cidoc-crm/"
PE = "http://parthenos.d4science.org/CRMext/CRMpe.rdfs/"
DIG = "http://www.ics.forth.gr/isl/CRMext/CRMdig.rdfs/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_PREF = "http://www.w3.org/2004/02/skos/core#prefLabel"

SUBJECTS = [
    "Bronze Age",
    "Temple",
    "Hoard",
    "Coins",
    "Pottery",
    "Burial",
    "Fortification",
    "Inscriptions",
    "Mosaics",
    "Roman villa",
    "Harbour",
    "Roads",
]
ACTORS = [
    "Archaeology Data Service",
    "Deutsches Archäologisches Institut",
    "DANS",
    "Historic England",
    "École française d'Athènes",
    "CNR ISTI",
]
PLACES = ["Olympia", "Wessex", "Augusta Treverorum", "Delphi", "Pompeii", "Knossos", "Łódź"]
TITLE_WORDS = [
    "Excavation",
    "survey",
    "report",
    "archive",
    "finds",
    "catalogue",
    "drawings",
    "photographs",
    "database",
    "notes",
    "Émile",
    "Zeus",
    "Apollo",
    "bronze",
    "Roman",
    "medieval",
    "hoard",
    "temple",
]
LANGUAGES = ["en", "de", "fr", "it", "el"]
RIGHTS = [
    "https://creativecommons.org/licenses/by/4.0/",
    "https://creativecommons.org/licenses/by-nc/4.0/",
    "http://rightsstatements.org/vocab/InC/1.0/",
]
CLASSES = [
    PE + "PE22_Persistent_Dataset",
    PE + "PE24_Volatile_Dataset",
    PE + "PE18_Dataset",
    DIG + "D1_Digital_Object",
]


def _lit(text: str, lang: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"@{lang}' if lang else f'"{escaped}"'


def pe_record(i: int, *, prefix: str = "ds", variant: int = 0) -> tuple[str, str]:
    """``(original_id, N-Triples body)`` of synthetic record ``i``; ``variant`` changes its title."""
    rng = random.Random(i * 7919 + 13)
    base = f"http://example.org/{prefix}/{i}"
    triples: list[tuple[str, str, str]] = []

    def add(s: str, p: str, o: str) -> None:
        triples.append((s, p, o))

    entity = f"<{base}>"
    add(entity, f"<{RDF_TYPE}>", f"<{CLASSES[i % len(CLASSES)]}>")
    words = rng.sample(TITLE_WORDS, 3)
    title = f"{words[0].capitalize() if i % 5 else words[0]} {words[1]} {words[2]} {i:05d}"
    if variant:
        title += f" rev {variant}"
    appellation = f"<{base}/title>"
    add(entity, f"<{CRM}P1_is_identified_by>", appellation)
    add(appellation, f"<{RDF_TYPE}>", f"<{CRM}E41_Appellation>")
    add(appellation, f"<{CRM}P190_has_symbolic_content>", _lit(title, "en"))
    add(entity, f"<{CRM}P3_has_note>", _lit(f"Records of the {words[1]} at {PLACES[i % len(PLACES)]}.", "en"))
    creation = f"<{base}/creation>"
    add(entity, f"<{CRM}P94i_was_created_by>", creation)
    add(creation, f"<{RDF_TYPE}>", f"<{CRM}E65_Creation>")
    actor = ACTORS[rng.randrange(len(ACTORS))]
    actor_node = f"<http://example.org/actor/{ACTORS.index(actor)}>"
    add(creation, f"<{CRM}P14_carried_out_by>", actor_node)
    add(actor_node, f"<{RDF_TYPE}>", f"<{CRM}E39_Actor>")
    add(actor_node, f"<{RDFS_LABEL}>", _lit(actor))
    place = PLACES[rng.randrange(len(PLACES))]
    place_node = f"<http://example.org/place/{PLACES.index(place)}>"
    add(creation, f"<{CRM}P7_took_place_at>", place_node)
    add(place_node, f"<{RDFS_LABEL}>", _lit(place))
    for subject in rng.sample(SUBJECTS, 1 + i % 3):
        node = f"<http://example.org/concept/{SUBJECTS.index(subject)}>"
        add(entity, f"<{CRM}P129_is_about>", node)
        add(node, f"<{RDF_TYPE}>", f"<{CRM}E55_Type>")
        add(node, f"<{SKOS_PREF}>", _lit(subject, "en"))
    if i % 4:
        begin = rng.randrange(-1200, 1900)
        end = begin + rng.randrange(0, 400)
        span = f"<{base}/time>"
        add(entity, f"<{CRM}P4_has_time-span>", span)
        add(span, f"<{RDF_TYPE}>", f"<{CRM}E52_Time-Span>")
        add(span, f"<{CRM}P82a_begin_of_the_begin>", _lit(_year(begin)))
        add(span, f"<{CRM}P82b_end_of_the_end>", _lit(_year(end)))
    language = LANGUAGES[i % len(LANGUAGES)]
    language_node = f"<http://example.org/language/{language}>"
    add(entity, f"<{CRM}P72_has_language>", language_node)
    add(language_node, f"<{RDFS_LABEL}>", _lit(language))
    add(entity, f"<{CRM}P104_is_subject_to>", f"<{RIGHTS[i % len(RIGHTS)]}>")
    landing = f"<https://example.org/landing/{prefix}/{i}>"
    add(entity, f"<{PE}PP50_accessible_at>", landing)
    add(landing, f"<{CRM}P2_has_type>", "<http://example.org/concept/landing>")
    add("<http://example.org/concept/landing>", f"<{RDFS_LABEL}>", _lit("LandingPage"))
    return f"oai:{prefix}:{i}", "".join(f"{s} {p} {o} .\n" for s, p, o in triples)


def _year(year: int) -> str:
    return f"-{abs(year):04d}" if year < 0 else f"{year:04d}"


def pe_records(
    count: int, *, prefix: str = "ds", start: int = 0, variant: int = 0
) -> Iterator[tuple[str, str]]:
    for i in range(start, start + count):
        yield pe_record(i, prefix=prefix, variant=variant)
