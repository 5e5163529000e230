"""An in-process token bucket per caller: bursts up to a size, refilled at a steady rate."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from pixseek.core.errors import RateLimited

# Callers remembered at once. Past it the least recently seen is forgotten, which only
# refills its bucket early: memory stays bounded however many addresses call.
MAX_CALLERS = 10_000


class RateLimiter:
    """`burst` requests at once per caller, refilled at `rate` per second; `clock` is injectable."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = MAX_CALLERS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller -> (tokens, at)
        self._lock = threading.Lock()  # sync routes run on a thread pool

    def check(self, caller: str) -> None:
        """Take one request from `caller`'s bucket, or raise RateLimited with the seconds to wait."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[caller] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
        if not allowed:
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            raise RateLimited(
                f"more than {self.burst} requests at once or {self.rate:g} per second; retry in {wait} s",
                retry_after=wait,
            )
