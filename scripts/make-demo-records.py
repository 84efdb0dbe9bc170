#!/usr/bin/env python3
"""Write contentcloud/demo/sample-records.xml: the demo's bundled oai_dc records.

Deterministic: the same records every time. The content is invented for the demo (titles,
people and places of a plausible humanities catalogue), so it carries no third-party licence.
"""

from __future__ import annotations

import random
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).resolve().parent.parent / "contentcloud" / "demo" / "sample-records.xml"

# (title, field, subjects, dc:type, possible start years of the period covered)
TOPICS = [
    (
        "Roman villa excavation",
        "archaeology",
        ["excavation", "Roman period", "villa"],
        "Dataset",
        [-100, 1, 100, 200],
    ),
    (
        "Bronze Age settlement survey",
        "archaeology",
        ["field survey", "Bronze Age", "settlement"],
        "Dataset",
        [-2000, -1600, -1300],
    ),
    (
        "Medieval charters corpus",
        "history",
        ["charters", "Middle Ages", "diplomatics"],
        "Text",
        [900, 1100, 1300],
    ),
    (
        "Dialect recordings",
        "linguistics",
        ["dialectology", "oral history", "speech corpus"],
        "Sound",
        [1950, 1970, 1990],
    ),
    (
        "Epigraphic inscriptions",
        "epigraphy",
        ["inscriptions", "Latin", "epigraphy"],
        "Dataset",
        [-200, 1, 150],
    ),
    ("Ceramics typology", "archaeology", ["pottery", "typology", "ceramics"], "Dataset", [-800, -500, -300]),
    (
        "Parish registers transcription",
        "history",
        ["parish registers", "demography", "transcription"],
        "Text",
        [1600, 1700, 1800],
    ),
    (
        "Museum object photographs",
        "cultural heritage",
        ["photography", "museum collections"],
        "Image",
        [1850, 1900, 1950],
    ),
    (
        "Historical gazetteer",
        "history",
        ["gazetteer", "place names", "historical geography"],
        "Dataset",
        [1000, 1500],
    ),
    (
        "Treebank of early modern texts",
        "linguistics",
        ["treebank", "syntax", "early modern"],
        "Dataset",
        [1500, 1600],
    ),
    (
        "3D models of architectural fragments",
        "cultural heritage",
        ["3D", "architecture", "photogrammetry"],
        "InteractiveResource",
        [-400, 100, 1200],
    ),
    (
        "Text annotation toolkit",
        "digital humanities",
        ["annotation", "software", "TEI"],
        "Software",
        [2010, 2015],
    ),
]
PLACES = [
    "Rome",
    "Athens",
    "Pompeii",
    "Ostia",
    "Knossos",
    "Vindolanda",
    "Carnuntum",
    "Aquileia",
    "Lyon",
    "Trier",
    "Florence",
    "Delphi",
    "Copenhagen",
    "Leiden",
    "Vienna",
    "Barcelona",
]
CREATORS = [
    "Rossi, Giulia",
    "Papadopoulos, Nikos",
    "Müller, Anna",
    "Dubois, Claire",
    "Jensen, Lars",
    "de Vries, Pieter",
    "García, Lucía",
    "Novak, Jana",
    "Ferrari, Marco",
    "Schmidt, Jonas",
    "PARTHENOS Demo Consortium",
    "Institute for Digital Heritage",
]
PUBLISHERS = ["Demo Archaeological Data Service", "Demo Language Archive", "Demo Heritage Repository"]
LANGUAGES = ["en", "it", "de", "fr", "el", "nl", "es"]
DELETED = (17, 58)  # withdrawn at the source: the demo shows them as tombstones
RIGHTS = ["CC BY 4.0", "CC BY-SA 4.0", "CC0 1.0", "restricted access"]

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!-- The demo's bundled sample records (oai_dc), written by scripts/make-demo-records.py.
     Invented content for the demo; no third-party material. -->
<records xmlns="urn:contentcloud:demo" xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
"""


def record(i: int, rng: random.Random) -> str:
    title, field, subjects, dctype, starts = TOPICS[i % len(TOPICS)]
    place = PLACES[rng.randrange(len(PLACES))]
    start = rng.choice(starts)
    end = min(start + rng.choice([10, 50, 100, 200]), 2024)
    creators = rng.sample(CREATORS, k=rng.choice([1, 1, 2, 3]))
    language = LANGUAGES[rng.randrange(len(LANGUAGES))]
    year = 2005 + rng.randrange(20)
    fmt = lambda y: f"{-y} BC" if y < 0 else f"AD {y}"  # noqa: E731
    deleted = ' deleted="true"' if i in DELETED else ""
    lines = [
        f'  <record id="oai:demo.contentcloud:{i:04d}"{deleted}>',
        "    <oai_dc:dc>",
        f"      <dc:title>{escape(title)} at {escape(place)} ({fmt(start)} - {fmt(end)})</dc:title>",
        *[f"      <dc:creator>{escape(c)}</dc:creator>" for c in creators],
        *[f"      <dc:subject>{escape(s)}</dc:subject>" for s in [field, *subjects]],
        f"      <dc:description>{escape(title)} documenting {escape(place)}, {fmt(start)} to {fmt(end)}, "
        f"compiled for the contentcloud demo (record {i}).</dc:description>",
        f"      <dc:publisher>{escape(PUBLISHERS[i % len(PUBLISHERS)])}</dc:publisher>",
        f"      <dc:date>{year}-{1 + i % 12:02d}-{1 + i % 28:02d}</dc:date>",
        f"      <dc:type>{dctype}</dc:type>",
        f"      <dc:identifier>https://demo.contentcloud.example/records/{i:04d}</dc:identifier>",
        f"      <dc:language>{language}</dc:language>",
        f"      <dc:coverage>{escape(place)}</dc:coverage>",
        f"      <dc:coverage>{start}/{end}</dc:coverage>",
        f"      <dc:rights>{RIGHTS[rng.randrange(len(RIGHTS))]}</dc:rights>",
        "    </oai_dc:dc>",
        "  </record>",
    ]
    return "\n".join(lines)


def main() -> None:
    rng = random.Random(20261122)  # noqa: S311 (seeded on purpose: the same demo records every time)
    body = "\n".join(record(i, rng) for i in range(1, 151))
    OUT.write_text(HEADER + body + "\n</records>\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
