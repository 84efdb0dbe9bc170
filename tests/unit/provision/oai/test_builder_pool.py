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


def _ended(process, timeout: float = 10.0) -> bool:
    """Whether ``process`` ended within ``timeout`` s. Polled, not one ``join`` then ``is_alive``:
    the executor's management thread reaps its dead workers too, and a ``waitpid`` that loses that
    race reports ECHILD, which ``is_alive`` reads as alive until the winner stores the exit code."""
    deadline = time.monotonic() + timeout
    while process.is_alive():
        if time.monotonic() > deadline:
            return False
        process.join(0.05)
    return True


def test_kill_stops_a_stuck_builder():
    pool = _started(120)
    builders = _BuilderPool(pool, multiprocessing.get_context("spawn"))
    processes = builders._processes()
    assert len(processes) == 1
    started = time.monotonic()
    builders.kill()
    assert _ended(processes[0])
    assert time.monotonic() - started < 10


def test_close_waits_a_bounded_time_then_kills(monkeypatch):
    import provision.oai.builder as builder

    monkeypatch.setattr(builder, "SHUTDOWN_TIMEOUT", 1.0)
    pool = _started(120)
    builders = _BuilderPool(pool, multiprocessing.get_context("spawn"))
    processes = builders._processes()
    started = time.monotonic()
    builders.close()
    assert _ended(processes[0])
    assert 0.9 < time.monotonic() - started < 10


def _refuse() -> None:
    from mdstore.errors import ConfigError

    raise ConfigError("the oai_dc stylesheet changed since the refresh began", file="mappings/x.xsl")


class _Unloadable:
    """Unpickling it raises, as a builder's start-up does when its source no longer loads."""

    def __reduce__(self):
        return (_refuse, ())


def test_a_builder_that_cannot_start_raises_its_reason_in_the_parent():
    import pickle

    import pytest

    from mdstore.errors import ConfigError
    from provision.oai.builder import _init_builder, _make_in_builder

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        1, mp_context=context, initializer=_init_builder, initargs=(pickle.dumps(_Unloadable()),)
    )
    builders = _BuilderPool(pool, context)
    try:
        future = pool.submit(_make_in_builder, [])
        with pytest.raises(ConfigError) as raised:
            future.result(timeout=60)
        assert str(raised.value) == "mappings/x.xsl: the oai_dc stylesheet changed since the refresh began"
    finally:
        builders.kill()
