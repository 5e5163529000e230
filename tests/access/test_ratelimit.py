"""The token bucket on its own: burst, refill, per caller, bounded memory."""

from __future__ import annotations

import pytest

from pixseek.access.ratelimit import RateLimiter
from pixseek.core.errors import RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=4.0, burst=2, clock=clock)
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 1  # a quarter second, rounded up to whole seconds
    assert refused.value.headers == {"Retry-After": "1"}
    clock.now += 0.25
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")
    clock.now += 100.0  # refills to the burst, no further
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(RateLimited):
        limiter.check("a")


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.check("a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.check("a")
    clock.now += 1.0
    limiter.check("a")  # hammering while refused did not push the wait further out


def test_slow_rates_wait_whole_seconds() -> None:
    limiter = RateLimiter(rate=0.1, burst=1, clock=Clock())
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 10


def test_callers_are_counted_apart_and_memory_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock, max_callers=3)
    for caller in "abc":
        limiter.check(caller)
    with pytest.raises(RateLimited):
        limiter.check("a")
    limiter.check("d")  # a fourth caller: the least recently seen ("b") is forgotten
    assert len(limiter._buckets) == 3
    limiter.check("b")  # forgotten means a full bucket again


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=rate, burst=burst)
