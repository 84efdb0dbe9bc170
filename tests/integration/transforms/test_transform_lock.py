"""The writer lock in a split transform: the plan hands its transaction to the parts, parts of the
run work side by side, and a second plan or a finish waits while a part is alive."""

from __future__ import annotations

import pytest

from contentcloud.pipeline.summary import Outcome
from contentcloud.pipeline.transform import finish_transform, plan_transform, transform_part
from mdstore import open_store
from mdstore.errors import WriterLockError

# helpers and the fixtures (mappings, chain: one stylesheet) of the transform pipeline tests
from tests.integration.transforms.test_pipeline_transform import (  # noqa: F401
    SOURCE,
    TARGET,
    chain,
    collect,
    mappings,
    record,
)


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'mdstore.sqlite'}", heartbeat=0.2) as store:
        yield store


def test_parts_join_the_plans_transaction_and_a_second_run_waits(store, chain):  # noqa: F811
    collect(store, {f"r{i}": record(f"T{i}") for i in range(30)})
    plan = plan_transform(store, SOURCE, TARGET, chain, run_id="split", parts=3, datasource="ds")
    assert store.writers(TARGET) == []  # the plan handed its transaction back
    part = store.resume(TARGET, join=True, run_id="split")  # a part still at work
    with pytest.raises(WriterLockError, match=r"a transform is running \(host .*, run split, since "):
        plan_transform(store, SOURCE, TARGET, chain, run_id="other", parts=3, datasource="ds")
    results = [transform_part(store, chain, plan, i) for i in range(3)]  # the other parts join
    assert [w.owner for w in store.writers(TARGET)] == [part.owner]
    with pytest.raises(WriterLockError, match="held by a live writer"):
        finish_transform(store, plan, results)
    part.release()
    summary = finish_transform(store, plan, results)
    assert summary.outcome == Outcome.FINISHED and summary.read == 30 and summary.added == 30
    assert store.open_transaction(TARGET) is None
