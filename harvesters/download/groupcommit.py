"""Group commit: items from many threads, committed together by one thread of its own.

A durable write (an SQLite transaction, an fsync) costs about the same for one item as for a
hundred, because the price is the disk's flush, not the bytes. :class:`GroupCommit` lets the
threads that need such a write share it: they hand their items to a committer thread, which
takes whatever is pending, commits it in one go, and reports each item's outcome; the items that
arrive meanwhile go into the next batch. Under load the batches grow by themselves; alone, an
item is committed at once (or after ``linger``, when asked to wait for company).

A thread either waits for its item (:meth:`GroupCommit.submit`) or hands it over with a callback
and goes on (:meth:`GroupCommit.submit_later`), so a pool of download threads need not keep a
thread parked per file waiting for the disk.

It does not decide what a commit is: the ``commit`` function gets the batch and returns one
outcome per item, in order (a result, or an exception for that item alone). An exception raised
by ``commit`` itself is every item's outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
#: seconds without items after which the committer thread ends (the next item starts another),
#: so an object that is never closed leaves no thread behind
IDLE_EXIT = 1.0
#: receives an item's outcome: its result, or the exception that failed it
Then = Callable[[Any], None]


@dataclass(slots=True, eq=False)
class _Handed(Generic[Item]):
    item: Item
    then: Then


class _Outcome:
    """A blocking :meth:`GroupCommit.submit` waits on one of these."""

    __slots__ = ("_done", "value")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self.value: Any = None

    def __call__(self, value: Any) -> None:
        self.value = value
        self._done.release()

    def wait(self) -> Any:
        self._done.acquire()
        return self.value


class GroupCommit(Generic[Item, Result]):
    """Commit items handed over by many threads in shared batches; see the module docstring.

    ``max_batch`` caps a batch (the rest goes into the next one). ``linger`` (seconds) lets the
    committer wait that long for more items when its batch is not full, and ``quiet`` ends that
    wait early when no item arrived for so long: worth it when a commit costs much more than
    the time between arrivals. The committer thread starts with the first item and ends when idle
    for a second; :meth:`close` commits what is pending and stops it. It is a daemon: a process
    that exits without closing loses its pending items exactly as if it had been killed.
    """

    def __init__(
        self,
        commit: Callable[[list[Item]], Sequence[Result | BaseException]],
        *,
        name: str = "group-commit",
        max_batch: int | None = None,
        linger: float = 0.0,
        quiet: float | None = None,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit = commit
        self.name = name
        self.max_batch = max_batch
        self.linger = linger
        self.quiet = linger if quiet is None else quiet
        self._cond = threading.Condition()
        self._pending: list[_Handed[Item]] = []
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, item: Item) -> Result:
        """Commit ``item`` with whatever else is pending; return its outcome or raise it."""
        outcome = _Outcome()
        self.submit_later(item, outcome)
        value = outcome.wait()
        if isinstance(value, BaseException):
            raise value
        return value

    def submit_later(self, item: Item, then: Then) -> None:
        """Hand ``item`` over; ``then`` gets its outcome, called from the committer thread.

        ``then`` must not raise (what it raises is logged and dropped) and should be quick:
        the next batch waits for it.
        """
        with self._cond:
            self._pending.append(_Handed(item, then))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run_forever, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Commit what is pending, then stop the committer thread.

        Idempotent, and not final: an item handed over later starts a committer again, so an
        owner closed while another thread still hands items over loses none of them.
        """
        with self._cond:
            self._closing = True
            thread = self._thread
            self._cond.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._cond:
            self._closing = False

    def _run_forever(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    if not self._cond.wait(IDLE_EXIT) and not self._pending:
                        break
                if not self._pending:  # idle, or closing with nothing left
                    self._thread = None  # under the lock: the next item starts a new thread
                    return
                self._linger()
                batch = self._take()
            outcomes = self._run([handed.item for handed in batch])
            for handed, outcome in zip(batch, outcomes, strict=True):
                try:
                    handed.then(outcome)
                except Exception:
                    logger.exception("%s: the callback of a committed item failed", self.name)

    def _linger(self) -> None:
        """Called with the lock held: let the batch fill, up to ``linger`` seconds.

        The wait ends early when ``max_batch`` items are pending, when no item arrived for
        ``quiet`` seconds (nobody else is coming soon), or when the committer is closing.
        """
        if self.linger <= 0:
            return
        deadline = time.monotonic() + self.linger
        while not self._closing and (self.max_batch is None or len(self._pending) < self.max_batch):
            wait = min(deadline - time.monotonic(), self.quiet)
            if wait <= 0 or not self._cond.wait(wait):  # the deadline, or quiet
                return

    def _take(self) -> list[_Handed[Item]]:
        cut = len(self._pending) if self.max_batch is None else self.max_batch
        batch, self._pending = self._pending[:cut], self._pending[cut:]
        return batch

    def _run(self, items: list[Item]) -> Sequence[Any]:
        try:
            outcomes = self._commit(items)
        except Exception as exc:
            return [exc] * len(items)
        if len(outcomes) != len(items):
            error = RuntimeError(f"{self.name}: {len(outcomes)} outcomes for {len(items)} items")
            return [error] * len(items)
        return outcomes
