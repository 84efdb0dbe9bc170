"""The MDStore as a hypothesis state machine against a dict model (add, delete, commit, abort,
rollback, gc), on both backends."""

from __future__ import annotations

import tempfile
import uuid

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mdstore import RecordInput, UnitKey, open_store
from mdstore.errors import VersionNotFound

UNIT = UnitKey("hyp", "oai_dc")
IDS = st.sampled_from([f"id{i}" for i in range(8)] + ["ünï/cødé", "a b"])
BODIES = st.sampled_from(["<a/>", "<b/>", "<c>é</c>"])


def machine_for(uri_factory):
    class MDStoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store = open_store(uri_factory(), keep=2)
            self.committed: list[tuple[str, dict[str, tuple[str | None, bool]]]] = []  # (version, state)
            self.current: str | None = None
            self.tx = None
            self.pending: dict[str, tuple[str | None, bool]] = {}

        def model_current(self) -> dict[str, tuple[str | None, bool]]:
            for version, state in self.committed:
                if version == self.current:
                    return state
            return {}

        @precondition(lambda self: self.tx is None)
        @rule(mode=st.sampled_from(["full", "incremental"]))
        def begin(self, mode):
            self.tx = self.store.begin(UNIT, mode)
            self.mode = mode
            self.pending = dict(self.model_current()) if mode == "incremental" else {}

        @precondition(lambda self: self.tx is not None)
        @rule(oid=IDS, body=BODIES)
        def upsert(self, oid, body):
            self.tx.upsert([RecordInput(oid, body)])
            self.pending[oid] = (body, False)

        @precondition(lambda self: self.tx is not None)
        @rule(oid=IDS)
        def delete(self, oid):
            self.tx.delete([oid])
            self.pending[oid] = (None, True)

        @precondition(lambda self: self.tx is not None)
        @rule()
        def commit(self):
            if self.mode == "full":  # records no longer delivered become tombstones
                for oid in self.model_current():
                    self.pending.setdefault(oid, (None, True))
            info = self.tx.commit()
            self.committed.append((info.id, self.pending))
            self.current, self.tx = info.id, None

        @precondition(lambda self: self.tx is not None)
        @rule()
        def abort(self):
            self.tx.abort()
            self.tx = None

        @precondition(lambda self: self.tx is None and len(self.committed) > 1)
        @rule(data=st.data())
        def rollback(self, data):
            kept = [v.id for v in self.store.versions(UNIT) if v.state == "committed"]
            target = data.draw(st.sampled_from(kept))
            assert self.store.rollback(UNIT, target) == target
            self.current = target

        @rule()
        def gc(self):
            self.store.gc(keep=2)
            live = {v.id for v in self.store.versions(UNIT) if v.state == "committed"}
            assert self.current is None or self.current in live
            for version, _ in self.committed:
                if version not in live:
                    with pytest.raises(VersionNotFound):
                        self.store.reader(UNIT, version)

        @invariant()
        def current_matches_model(self):
            assert self.store.current_version(UNIT) == self.current
            if self.current is None:
                return
            with self.store.reader(UNIT) as view:
                got = {r.original_id: (r.body, r.deleted) for r in view.records()}
                stats = view.stats()
            assert got == self.model_current()
            assert stats["present"] == sum(not d for _, d in got.values())
            assert stats["deleted"] == sum(d for _, d in got.values())

        def teardown(self):
            self.store.close()

    return MDStoreMachine


def test_state_machine_sqlite():
    tmp = tempfile.mkdtemp()
    machine = machine_for(lambda: f"sqlite:///{tmp}/{uuid.uuid4().hex}.sqlite")
    run_state_machine_as_test(
        machine, settings=settings(max_examples=40, stateful_step_count=25, deadline=None)
    )


@pytest.mark.integration
def test_state_machine_mongodb(mongo_server):
    machine = machine_for(lambda: f"{mongo_server.url.rstrip('/')}/h{uuid.uuid4().hex[:10]}")
    run_state_machine_as_test(
        machine, settings=settings(max_examples=15, stateful_step_count=20, deadline=None)
    )
