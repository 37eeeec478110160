"""The same log message over and over (a flood of "Too many open files") is written at most
``burst`` times per interval; the next one after the interval carries the count of those
dropped. Retries that log one line each (a few a minute) pass untouched."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

# The same message (logger, level, template, exception type) at most BURST times in this many
# seconds.
REPEAT_INTERVAL_S = 60.0
BURST = 10
# Distinct messages remembered; beyond this the oldest are forgotten (they pass again).
MAX_KEYS = 1000

Key = tuple[str, int, str, str]


class RepeatFilter(logging.Filter):
    def __init__(
        self,
        interval_s: float = REPEAT_INTERVAL_S,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._interval = interval_s
        self._burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (start of its interval, written in it, dropped in it)
        self._seen: dict[Key, tuple[float, int, int]] = {}

    @staticmethod
    def _key(record: logging.LogRecord) -> Key:
        exc_type = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        return (record.name, record.levelno, str(record.msg), exc_type)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # only warnings and errors flood in practice; debug logs are wanted
        key = self._key(record)
        now = self._clock()
        with self._lock:
            start, written, dropped = self._seen.pop(key, (now, 0, 0))
            if now - start >= self._interval:
                start, written = now, 0
            elif written >= self._burst:
                self._seen[key] = (start, written, dropped + 1)
                return False
            self._seen[key] = (start, written + 1, 0)
            while len(self._seen) > MAX_KEYS:
                self._seen.pop(next(iter(self._seen)))
        if dropped:
            record.msg = f"{record.getMessage()} (and {dropped} more like it before)"
            record.args = None
        return True


def throttle_repeats(interval_s: float = REPEAT_INTERVAL_S) -> None:
    """Install the filter on the root logger's handlers (records from every logger pass them)."""
    repeat = RepeatFilter(interval_s)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(repeat)
