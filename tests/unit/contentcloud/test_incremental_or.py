"""Whether a feed (index, RDF store) can take only what changed since the version it last took in,
and the reason it gives either way."""

from __future__ import annotations

from contentcloud.pipeline.parts import incremental_or
from mdstore import UnitKey

UNIT = UnitKey.parse("ds/PE/store/transformed")


class Lineage:
    """A store whose only lineage is v1 → v2 → v3."""

    def is_ancestor(self, unit, ancestor, version):
        assert unit == UNIT
        order = ["v1", "v2", "v3"]
        return ancestor in order and version in order and order.index(ancestor) <= order.index(version)


def decide(last, committed_at, current="v3"):
    return incremental_or(Lineage(), UNIT, last, committed_at, current, done="indexed", otherwise="full")


def test_an_ancestor_with_a_known_commit_time_is_incremental():
    assert decide("v1", "2026-01-01T00:00:00Z") == ("incremental", "changes since version v1")


def test_a_version_outside_the_lineage_is_full_and_says_so():
    assert decide("v9", "2026-01-01T00:00:00Z") == (
        "full",
        "the indexed version v9 is not an ancestor of v3 (a rollback?)",
    )


def test_an_unknown_commit_time_is_full_and_says_that_instead():
    assert decide("v1", None) == ("full", "the commit time of the indexed version v1 is unknown")
