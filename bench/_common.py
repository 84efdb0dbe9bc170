"""Shared helpers of the benchmarks: peak-memory sampling, result printing, and code run from
another checkout.

Peak memory is the high-water mark of the process's *anonymous* resident memory (``RssAnon``:
heap, Python objects, buffers) above its level at the start of a phase, sampled every 20 ms by a
thread. File-backed pages (SQLite's memory-mapped database file) are left out: they are the OS
page cache, shared and reclaimable, and would otherwise grow with the size of the file read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def run_in_checkout(source: str, code_dir: Path, *args: str) -> dict:
    """Run ``source`` in a fresh interpreter whose imports come from ``code_dir`` (this checkout, or a
    worktree of the commit a bench compares with) and return what it printed last, as JSON. A child
    that fails stops the bench with the end of its error output."""
    out = subprocess.run(
        [sys.executable, "-c", source, *args],
        cwd=code_dir,
        env={**os.environ, "PYTHONPATH": str(code_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise SystemExit(f"{code_dir}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_bytes(pid: int | str = "self") -> int:
    """Anonymous resident memory of this process (or of ``pid``), in bytes."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # the process ended meanwhile
        pass
    return 0


def tree_rss_bytes() -> int:
    """Anonymous resident memory of this process and of all its descendants (worker and builder
    processes of a step), in bytes."""
    import os

    total, pending, seen = 0, [os.getpid()], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += rss_bytes(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    pending.extend(int(child) for child in f.read().split())
        except OSError:
            pass
    return total


#: iterations of :func:`machine_probe`'s loop (~0.2-0.4 CPU s on the 2-core machine)
PROBE_ITERATIONS = 2_000_000


def machine_probe(rounds: int = 3) -> float:
    """CPU seconds of a fixed pure-Python loop, the best of ``rounds``: how fast this machine runs
    the interpreter at the moment, printed beside a bench's figures.

    Why: on the shared 2-core machine two 1,000,000-record runs of the same code took 572 and 703 s
    (stop 21), with the load average near 0 and no steal time in ``/proc/stat``. Taken where the
    code under test is not running (between stages), the probe tells whether the interpreter itself
    ran slower. What it cannot see: the loop stays in the CPU's caches, so contention for memory
    and caches, which SQLite and lxml feel, does not show in it (stop 22: the probe stayed at
    0.11-0.15 s through a 1,000,000-record run whose stages took 11-19 % more CPU per record than at
    100,000)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        total = 0
        for i in range(PROBE_ITERATIONS):
            total += i * i % 7
        best = min(best, time.process_time() - started)
    return best


def page_cache_rereads() -> tuple[int, int]:
    """(bytes of file pages read again after the kernel evicted them, bytes read from disk) since
    boot, from ``/proc/vmstat`` (zeros where it is not readable).

    Why: this machine (a Firecracker VM) runs DAMON with a ``pageout`` scheme on physical memory
    (``/sys/kernel/mm/damon/admin/kdamonds/0``): pages not touched for about a minute (12
    aggregation intervals of 5 s) are paged out, up to 128 MB a second, whatever the free memory.
    A stage that reads back what an earlier stage wrote (the MDStore, the index files) then reads
    from disk what a machine without it keeps in the page cache, and the more data, the more of it
    has gone cold. Printed per stage, it shows when a run paid for that."""
    wanted = {"workingset_refault_file": 0, "pgpgin": 0}
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name in wanted:
                    wanted[name] = int(value)
    except OSError:
        pass
    return wanted["workingset_refault_file"] * os.sysconf("SC_PAGE_SIZE"), wanted["pgpgin"] * 1024


@dataclass
class Phase:
    name: str
    items: int = 0
    seconds: float = 0.0
    peak_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


class measure:
    """``with measure("write") as m: ...; m.items = n`` → elapsed seconds and peak RSS growth.

    ``tree=True`` counts the descendants' memory too (a step's worker and builder processes), as
    one sum sampled at once."""

    def __init__(self, name: str, *, tree: bool = False) -> None:
        self.phase = Phase(name)
        self._stop = threading.Event()
        self._rss = tree_rss_bytes if tree else rss_bytes

    def __enter__(self) -> Phase:
        self._base = self._rss()
        self._peak = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._t0 = time.perf_counter()
        return self.phase

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            self._stop.wait(0.02)

    def __exit__(self, *exc: object) -> None:
        self.phase.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.phase.peak_mb = (self._peak - self._base) / 2**20


def print_rows(title: str, rows: list[tuple[str, Phase, str]]) -> None:
    """Side-by-side table: name, items, seconds, items/s, peak RSS growth, note."""
    print(f"\n## {title}")
    print(f"{'phase':38s} {'items':>9s} {'seconds':>8s} {'items/s':>10s} {'peak MB':>8s}  note")
    for label, p, note in rows:
        print(f"{label:38s} {p.items:9d} {p.seconds:8.2f} {p.rate:10.0f} {p.peak_mb:8.1f}  {note}")
