"""UUID sources: the reference's test letters, random values, and reproducible values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.transforms.x3ml.x3ml_helpers import domain, entity, link, x3ml
from transforms.x3ml import X3MLMapping
from transforms.x3ml.uuids import TestUUIDSource, TooManyTestUUIDs

RECORD = b"<r><coin><id>1</id></coin><coin><id>2</id></coin></r>"
URN_UUID = re.compile(r"<urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}>")


def test_test_letters():
    source = TestUUIDSource(2)
    values = [source.generate(lambda: "") for _ in range(28)]
    assert values[:3] == ["uuid:AA", "uuid:AB", "uuid:AC"]
    assert values[25:28] == ["uuid:AZ", "uuid:BA", "uuid:BB"]


def test_test_letters_run_out():
    source = TestUUIDSource(1)
    for _ in range(26):
        source.generate(lambda: "")
    with pytest.raises(TooManyTestUUIDs, match="Too many test UUIDs at 26. Use a larger size."):
        source.generate(lambda: "")


@given(st.integers(min_value=0, max_value=26**3 - 1))
def test_test_letters_are_base_26(count):
    source = TestUUIDSource(3)
    source.count = count
    letters = source.generate(lambda: "")[5:]
    assert sum((ord(c) - 65) * 26**i for i, c in enumerate(reversed(letters))) == count


@pytest.fixture
def mapping(write):
    additional = (
        "<additional><relationship>crm:P2</relationship><entity><type>crm:E55</type>"
        '<instance_generator name="UUID"/></entity></additional>'
    )
    text = x3ml(
        "<mapping>"
        + domain("coin", entity("crm:E22", additionals=additional))
        + link("id", "crm:P1", "id", entity("crm:E42"))
        + "</mapping>"
    )
    return X3MLMapping.load(write("m.x3ml", text))


def test_reproducible_uuids_are_stable(mapping):
    first = mapping.transform(RECORD, record_id="oai:x:1").to_ntriples()
    again = mapping.transform(RECORD, record_id="oai:x:1").to_ntriples()
    assert first == again
    assert len(set(URN_UUID.findall(first))) == 6  # 2 coins, 2 additionals, 2 identifiers


def test_reproducible_uuids_depend_on_the_record_id(mapping):
    first = set(URN_UUID.findall(mapping.transform(RECORD, record_id="oai:x:1").to_ntriples()))
    other = set(URN_UUID.findall(mapping.transform(RECORD, record_id="oai:x:2").to_ntriples()))
    assert first.isdisjoint(other)


def test_reproducible_without_record_id_uses_the_content(mapping):
    assert mapping.transform(RECORD).record_id is None
    assert mapping.transform(RECORD).to_ntriples() == mapping.transform(RECORD).to_ntriples()
    other = RECORD.replace(b"<id>2</id>", b"<id>3</id>")
    assert set(URN_UUID.findall(mapping.transform(other).to_ntriples())).isdisjoint(
        URN_UUID.findall(mapping.transform(RECORD).to_ntriples())
    )


def test_reproducible_mode_has_no_orphans_from_the_second_pass(mapping):
    # the reference resolves a domain twice; its additional gets two UUIDs in test mode
    test_mode = mapping.transform(RECORD, uuid_mode="test", uuid_test_size=1).to_ntriples()
    assert test_mode.count("E55>") == 4
    reproducible = mapping.transform(RECORD, record_id="r").to_ntriples()
    assert reproducible.count("E55>") == 2


def test_random_mode_differs_between_runs(mapping):
    assert (
        mapping.transform(RECORD, uuid_mode="random").to_ntriples()
        != mapping.transform(RECORD, uuid_mode="random").to_ntriples()
    )


def test_reproducible_uuids_are_uuid5_of_the_record_id_and_key():
    import uuid

    from transforms.x3ml.uuids import NAMESPACE, ReproducibleUUIDSource

    source = ReproducibleUUIDSource("rec-ü")
    for key in ("", "1|2|range|/a/b[2]|/a|-crm:E22", "日本\U0001f600"):
        assert (
            source.generate(lambda key=key: key)
            == f"urn:uuid:{uuid.uuid5(NAMESPACE, 'rec-ü' + chr(31) + key)}"
        )
        assert source.random_text(lambda key=key: key) == str(
            uuid.uuid5(NAMESPACE, "rec-ü" + chr(31) + key + chr(31) + "random")
        )
