"""Fixtures of the transform tests: a throw-away mappings directory with the shipped helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
MAPPINGS = PROJECT / "mappings"


@pytest.fixture
def mappings_dir(tmp_path: Path) -> Path:
    """``tmp/mappings`` holding a copy of ``lib/cc-functions.xsl`` and two small vocabularies."""
    root = tmp_path / "mappings"
    (root / "lib").mkdir(parents=True)
    shutil.copy(MAPPINGS / "lib" / "cc-functions.xsl", root / "lib" / "cc-functions.xsl")
    vocabularies = root / "vocabularies"
    vocabularies.mkdir()
    (vocabularies / "languages.yaml").write_text(
        "terms:\n"
        "  - {term: eng, label: English, synonyms: [en, en-GB, english]}\n"
        "  - {term: deu, label: German, synonyms: [de, Deutsch]}\n",
        encoding="utf-8",
    )
    (vocabularies / "colours.csv").write_text(
        "term,synonym,label\nred,rouge,Red\nred,ROT,\nblue,bleu,Blue\n", encoding="utf-8"
    )
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


XSL_HEAD = (
    '<xsl:stylesheet version="{version}" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
    'xmlns:cc="urn:contentcloud:functions" xmlns:xs="http://www.w3.org/2001/XMLSchema" '
    'exclude-result-prefixes="cc xs">'
)


def stylesheet(body: str, *, version: str = "1.0", head_extra: str = "") -> str:
    """A stylesheet with ``body`` as its top-level content."""
    return XSL_HEAD.format(version=version).replace(">", f" {head_extra}>", 1) + body + "</xsl:stylesheet>"
