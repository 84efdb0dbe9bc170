"""Worker processes that start cleanly under any launcher (the CLI, Airflow's task runner, a notebook).

Shared by the index step's document builders and the parted-step runner's part workers.
"""

from __future__ import annotations

import gc
import multiprocessing.context
import sys
import time
import types
from multiprocessing import popen_spawn_posix
from typing import Any


def freeze_startup() -> None:
    """Move every object alive now (the modules a worker imported, its profile, its mapping) out of
    the cyclic garbage collector's reach, once a worker or builder process has started.

    Those ~10^5 objects live as long as the process, yet every full collection walked them again:
    a feed's pages of documents survive the young generations while they are built and sent, so
    full collections came every page or two. Measured in an index part at 100,000 records: the
    collector was ~10 % of its CPU (``gc_collect_main``, ``visit_decref``, ``visit_reachable``),
    and the stage used 6-12 % less CPU with this call (44 CPU s against 47-50). Nothing is leaked:
    what is frozen was never garbage, and what is made later is collected as before."""
    gc.freeze()


class BareMainPopen(popen_spawn_posix.Popen):
    """Starts a process without the parent's ``__main__``.

    A ``spawn`` child re-runs the parent's main script before it unpickles its work. Under Airflow's
    task runner that script is the ``airflow`` command, whose import configures Airflow's ORM
    against the URL the runner blocks (``airflow-db-not-allowed:///``): the child died before it
    did anything. The children need nothing from ``__main__`` (their functions live in importable
    modules), so the preparation data is taken with a bare ``__main__`` in place: the child then
    imports only the modules its work needs, wherever the parent runs.
    """

    def _launch(self, process_obj: Any) -> None:
        main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")  # no __file__, no __spec__
        try:
            super()._launch(process_obj)
        finally:
            sys.modules["__main__"] = main


class BareMainProcess(multiprocessing.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> BareMainPopen:  # noqa: N802 - multiprocessing's name
        return BareMainPopen(process_obj)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A child process, also under Celery's prefork pool (CeleryExecutor).

        Celery runs tasks in children of its own ``billiard`` library, and the task runner Airflow's
        Celery worker forks from one inherits that process object: its authentication key is
        billiard's type, which refuses to be pickled into a ``spawn`` child's start data ("Pickling
        an AuthenticationString object is disallowed"), so it is turned into multiprocessing's (the
        same bytes) before a child copies it.
        """
        current = multiprocessing.current_process()
        key = current._config.get("authkey")
        if key is not None and type(key) is not multiprocessing.process.AuthenticationString:
            current._config["authkey"] = multiprocessing.process.AuthenticationString(bytes(key))
        super().__init__(*args, **kwargs)

    def start(self) -> None:
        """Starts a child even from a process marked daemonic.

        Celery's pool children are daemonic, and the task runner forked from one inherits the mark:
        multiprocessing then refuses any child ("daemonic processes are not allowed to have
        children") and every ``index_part`` failed on CeleryExecutor. The mark is stale there (the
        task runner is a process of its own that Airflow's supervisor waits for), and no caller
        leaves a child behind (stopped when done, killed on any error), so it is lifted while the
        child starts.
        """
        current = multiprocessing.current_process()
        if not current._config.get("daemon"):
            super().start()
            return
        current._config["daemon"] = False
        try:
            super().start()
        finally:
            current._config["daemon"] = True


class BareMainContext(multiprocessing.context.SpawnContext):
    """A ``spawn`` context (no fork of a process with threads and open connections) whose children
    skip the parent's ``__main__``, and which remembers them, so a caller that gives up on a child
    can kill them all (``ProcessPoolExecutor`` would wait for a stuck one on shutdown)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[BareMainProcess] = []

    def Process(self, *args: Any, **kwargs: Any) -> BareMainProcess:  # noqa: N802 - multiprocessing's name
        process = BareMainProcess(*args, **kwargs)
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.pid is not None and process.exitcode is None:
                process.kill()
        for process in self.started:
            if process.pid is not None:
                process.join(5)

    def stop_all(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds in all for the children to exit, then kill what is left."""
        deadline = time.monotonic() + timeout
        for process in self.started:
            if process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
        self.kill_all()
