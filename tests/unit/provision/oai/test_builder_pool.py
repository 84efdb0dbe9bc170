"""The publish builders' pool stops its processes without a context that tracks them (the
``spawn`` default of library callers): ``shutdown`` forgets them, so they are taken before."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from provision.oai.builder import _BuilderPool


def _started(seconds: float) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(1, mp_context=context)
    pool.submit(time.sleep, seconds)
    return pool


def test_kill_stops_a_stuck_builder():
    pool = _started(120)
    builders = _BuilderPool(pool, multiprocessing.get_context("spawn"))
    processes = builders._processes()
    assert len(processes) == 1
    started = time.monotonic()
    builders.kill()
    processes[0].join(10)
    assert not processes[0].is_alive()
    assert time.monotonic() - started < 10


def test_close_waits_a_bounded_time_then_kills(monkeypatch):
    import provision.oai.builder as builder

    monkeypatch.setattr(builder, "SHUTDOWN_TIMEOUT", 1.0)
    pool = _started(120)
    builders = _BuilderPool(pool, multiprocessing.get_context("spawn"))
    processes = builders._processes()
    started = time.monotonic()
    builders.close()
    processes[0].join(10)
    assert not processes[0].is_alive()
    assert 0.9 < time.monotonic() - started < 10
