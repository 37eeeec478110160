"""What a front end needs from the pool, and the same done in the caller's own thread.

:class:`InlineDigester` runs a job where it is submitted, with no isolation and no limits.
It exists for an engine that lives in the caller's process (the bot's tests inject one that
counts and gates its runs); production uses :class:`workers.pool.WorkerPool`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Protocol

from digest.pipeline import Progress, ProgressCallback
from settings.schema import IngestSettings
from workers.compute import DigestEngine, compute
from workers.errors import JobCancelledError
from workers.jobs import DigestRequest, DigestResult


class Digester(Protocol):
    def submit(
        self,
        request: DigestRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[DigestResult]: ...

    def close(self) -> None: ...

    @property
    def broken(self) -> str | None:
        """Why no job can run (workers cannot start), or None."""
        ...


class InlineDigester:
    def __init__(self, engine: DigestEngine, ingest: IngestSettings) -> None:
        self._engine = engine
        self._ingest = ingest

    def submit(
        self,
        request: DigestRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[DigestResult]:
        """Runs the job now, in this thread; the future is done when this returns."""
        future: Future[DigestResult] = Future()
        future.set_running_or_notify_cancel()

        def checkpoint() -> None:
            if cancel is not None and cancel.is_set():
                raise JobCancelledError("the briefing was cancelled")

        def report(step: Progress) -> None:
            checkpoint()
            if progress is not None:
                progress(step)

        try:
            future.set_result(compute(self._engine, request, self._ingest, report, checkpoint))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass

    @property
    def broken(self) -> str | None:
        return None
