"""Waiting with deadlines.

Tests wait for events (a packet, a log line, a message) with a deadline. The one exception is
a broker timer that is itself under test (session expiry, message expiry, will delay): there
the test has to let real time pass, and says so by calling let_elapse() instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def let_elapse(since: float, seconds: float) -> None:
    """Returns once `seconds` have passed since the monotonic instant `since`."""
    remaining = since + seconds - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def wait_until(probe: Callable[[], T], timeout: float, interval: float = 0.05,
               what: str = "condition") -> T:
    """Calls `probe` until it returns something truthy (returned) or the deadline passes
    (AssertionError). At most timeout/interval + 1 calls."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s")
