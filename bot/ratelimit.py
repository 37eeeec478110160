"""Per-user limit on digests asked for: a sliding one-minute window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

WINDOW_S = 60.0


class UserRateLimit(Protocol):
    """What handlers use: this in-process limiter, or ``bot/redis_ratelimit.py``."""

    async def take(self, user_id: int) -> float:
        """Take one digest from the user's allowance: 0 if granted, else seconds to wait."""
        ...

    async def give_back(self, user_id: int) -> None:
        """Return the last grant (the job was refused after all)."""
        ...


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._times: dict[int, deque[float]] = {}

    def retry_after(self, user_id: int) -> float:
        """Seconds until ``user_id`` may ask again; 0 when they may now."""
        times = self._times.get(user_id)
        if not times:
            return 0.0
        now = self._clock()
        while times and now - times[0] >= WINDOW_S:
            times.popleft()
        if not times:
            # Forget idle users so the table does not grow with everyone who ever wrote.
            del self._times[user_id]
            return 0.0
        if len(times) < self._limit:
            return 0.0
        return WINDOW_S - (now - times[0])

    def acquire(self, user_id: int) -> float:
        """Take one digest from the user's allowance: 0 if granted, else seconds to wait.

        Checking and recording in one step matters: updates are handled concurrently, and
        three quick requests must not all pass the check before any is recorded.
        """
        wait = self.retry_after(user_id)
        if wait == 0:
            self._times.setdefault(user_id, deque()).append(self._clock())
        return wait

    def refund(self, user_id: int) -> None:
        """Give back the last grant (the job was refused after all, e.g. the queue was full)."""
        times = self._times.get(user_id)
        if times:
            times.pop()

    async def take(self, user_id: int) -> float:
        return self.acquire(user_id)

    async def give_back(self, user_id: int) -> None:
        self.refund(user_id)
