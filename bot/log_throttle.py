"""The same log message over and over (a flood of "Too many open files") is written once per
interval, then once more with the count of the repeats it stood for."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

# The same message (logger, level, template, exception type) at most once in this many seconds.
REPEAT_INTERVAL_S = 60.0
# Distinct messages remembered; beyond this the oldest are forgotten (they pass again).
MAX_KEYS = 1000

Key = tuple[str, int, str, str]


class RepeatFilter(logging.Filter):
    def __init__(
        self, interval_s: float = REPEAT_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (time the last one was written, repeats dropped since)
        self._seen: dict[Key, tuple[float, int]] = {}

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
            last = self._seen.get(key)
            if last is not None and now - last[0] < self._interval:
                self._seen[key] = (last[0], last[1] + 1)
                return False
            dropped = last[1] if last is not None else 0
            self._seen.pop(key, None)
            self._seen[key] = (now, 0)
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
