"""How a job given to the pool can fail, besides the digest's own errors (digest.errors)."""

from __future__ import annotations

from enum import Enum

from digest.errors import DigestError


class LimitKind(Enum):
    TIME = "time"
    MEMORY = "memory"


class LimitExceededError(DigestError):
    """The job broke its time or memory limit: its worker was killed and replaced."""

    def __init__(self, limit: LimitKind, value: float) -> None:
        self.limit = limit
        self.value = value
        super().__init__(
            f"This briefing is too large or too complex to digest (limit: {describe(limit, value)})"
        )


def describe(limit: LimitKind, value: float) -> str:
    if limit is LimitKind.TIME:
        return f"{value:g} s of processing time"
    return f"{value:g} MB of memory"


class WorkerError(Exception):
    """The pool could not give an answer; the message is one line."""


class WorkerCrashedError(WorkerError):
    """The job's worker died every time it ran it (the retries are spent)."""


class WorkerStartError(WorkerError):
    """Workers cannot start (their pipeline factory fails): no job can run."""


class JobCancelledError(WorkerError):
    """The job was cancelled through its flag (or its progress callback raised)."""


class PoolClosedError(WorkerError):
    """The pool was closed before the job ended."""


class JobInternalError(WorkerError):
    """An unexpected error inside the worker (a bug); the traceback is in the worker's log."""
