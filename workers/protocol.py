"""Messages between the pool and one worker, over that worker's own pipe.

Each worker has a pipe of its own rather than a shared multiprocessing.Queue: a queue's
writers share a lock, and a worker killed while holding it (time limit, OOM) would block
every other worker's results for good.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from digest.errors import DigestError
from digest.pipeline import Progress
from workers.errors import JobInternalError
from workers.jobs import DigestRequest, DigestResult


# -- pool -> worker ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunJob:
    job_id: int
    request: DigestRequest


@dataclass(frozen=True, slots=True)
class Stop:
    pass


# -- worker -> pool ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class StartFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class JobProgress:
    job_id: int
    progress: Progress


@dataclass(frozen=True, slots=True)
class JobDone:
    job_id: int
    result: DigestResult


@dataclass(frozen=True, slots=True)
class JobCancelled:
    job_id: int


@dataclass(frozen=True, slots=True)
class JobOverMemory:
    """The job hit its memory limit; the worker exits right after sending this."""

    job_id: int


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """A DigestError (shown to the user as is) or an unexpected error, as plain data.

    Exceptions are not pickled: a subclass whose ``__init__`` takes other arguments than its
    message (UnsupportedLanguageError) would not come back whole.
    """

    module: str
    qualname: str
    message: str
    attrs: dict[str, Any] = field(default_factory=dict)
    user_error: bool = False

    @classmethod
    def of(cls, exc: BaseException) -> ErrorRecord:
        kind = type(exc)
        if isinstance(exc, DigestError):
            attrs = {k: v for k, v in vars(exc).items() if _plain(v)}
            return cls(kind.__module__, kind.__qualname__, str(exc), attrs, user_error=True)
        brief = f"{kind.__name__}: {exc}".splitlines()[0][:300] if str(exc) else kind.__name__
        return cls(kind.__module__, kind.__qualname__, brief)

    def rebuild(self) -> Exception:
        if self.user_error:
            try:
                kind = getattr(importlib.import_module(self.module), self.qualname)
            except (ImportError, AttributeError):
                kind = DigestError
            if isinstance(kind, type) and issubclass(kind, DigestError):
                exc = kind.__new__(kind)
                Exception.__init__(exc, self.message)
                exc.__dict__.update(self.attrs)
                return exc
        return JobInternalError(f"internal error in the digest worker: {self.message}")


@dataclass(frozen=True, slots=True)
class JobFailed:
    job_id: int
    error: ErrorRecord


def _plain(value: object) -> bool:
    return isinstance(value, str | int | float | bool | type(None))
