"""Records cross to worker processes (the publish refresh's builders) by pickle: a record read
lazily from a store arrives still encoded, and decodes to the same fields there."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

from mdstore import RecordInput, open_store
from mdstore.envelope import Record


def test_a_lazily_read_record_pickles_encoded_and_decodes_the_same(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/md.sqlite")
    try:
        from mdstore import UnitKey

        unit = UnitKey("ds", "oai_dc", "native")
        tx = store.begin(unit, "full", nsprefix="ds")
        tx.upsert([RecordInput("oai:x:1", "<a>é</a>", provenance={"baseURL": "http://x"})])
        tx.commit()
        with store.reader(unit, store.current_version(unit)) as view:
            (record,) = list(view.records())
        assert record._decode is not None
        data = pickle.dumps(record)
        assert b"datetime" not in data  # still the stored text, not decoded values
        copy = pickle.loads(data)
        assert copy._decode is not None
        assert copy == record and copy.as_dict() == record.as_dict()
        assert copy.provenance == {"baseURL": "http://x"} and copy.body == "<a>é</a>"
    finally:
        store.close()


def test_a_record_built_in_memory_pickles_its_fields():
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = Record("id1", "oai:1", "ds", "oai_dc", b"<a/>", "cs", when, deleted=True, provenance={"a": 1})
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record
    assert (copy.checksum, copy.datestamp, copy.deleted, copy.provenance) == ("cs", when, True, {"a": 1})


_lambda_decoder = lambda meta: {  # noqa: E731 - the case: a module-level name that is not the function's own
    "checksum": "cs",
    "datestamp": datetime(2024, 1, 2, tzinfo=UTC),
    "deleted": False,
    "deleted_at": None,
    "collected_at": None,
    "transformed_at": None,
    "provenance": {},
}


def test_a_record_whose_decoder_pickles_by_name_only_if_that_name_is_it():
    """A module-level lambda has ``__qualname__ == __name__`` (``<lambda>``) but no importable
    name: the record pickles its decoded fields instead of failing."""
    record = Record.lazy("id1", "oai:1", "ds", "oai_dc", b"<a/>", "meta", _lambda_decoder)
    copy = pickle.loads(pickle.dumps(record))
    assert copy._decode is None
    assert (copy.checksum, copy.datestamp, copy.body) == ("cs", datetime(2024, 1, 2, tzinfo=UTC), b"<a/>")


_lambda_unpacker = lambda body, record_id: body.upper()  # noqa: E731 - as above


def test_a_record_whose_unpacker_does_not_pickle_by_name_travels_unpacked():
    record = Record.lazy("id1", "oai:1", "ds", "oai_dc", b"<a/>", "meta", _lambda_decoder, _lambda_unpacker)
    copy = pickle.loads(pickle.dumps(record))
    assert copy._unpack is None and copy._decode is None  # the fields and the body, both decoded
    assert copy.body == b"<A/>" and record.body == b"<A/>"
