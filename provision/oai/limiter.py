"""A bounded concurrency limiter: overload becomes a quick 503 rather than a pile-up.

At most ``max_in_flight`` requests do work at once; up to ``max_waiting`` more wait for a slot,
each at most ``wait_timeout`` seconds. A request that finds the waiting room full, or waits too
long, is refused (the app answers 503 with Retry-After, OAI-PMH's flow control, spec 3.1.2.2).
"""

from __future__ import annotations

import threading
import time


class ConcurrencyLimiter:
    def __init__(self, max_in_flight: int = 8, max_waiting: int = 64, wait_timeout: float = 20.0) -> None:
        if max_in_flight < 1 or max_waiting < 0 or wait_timeout < 0:
            raise ValueError("max_in_flight >= 1, max_waiting >= 0, wait_timeout >= 0")
        self.max_in_flight = max_in_flight
        self.max_waiting = max_waiting
        self.wait_timeout = wait_timeout
        self._cond = threading.Condition()
        self.in_flight = 0
        self.waiting = 0
        self.rejected = 0

    def acquire(self) -> bool:
        """Take a slot; False when overloaded (the caller must not call :meth:`release`)."""
        with self._cond:
            if self.in_flight < self.max_in_flight:
                self.in_flight += 1
                return True
            if self.waiting >= self.max_waiting:
                self.rejected += 1
                return False
            self.waiting += 1
            deadline = time.monotonic() + self.wait_timeout
            try:
                while self.in_flight >= self.max_in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self.rejected += 1
                        return False
                    self._cond.wait(remaining)
                self.in_flight += 1
                return True
            finally:
                self.waiting -= 1

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()
