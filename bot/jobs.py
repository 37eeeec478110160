"""The job queue: digests are made by worker threads, never on the event loop.

``JobQueue`` is the seam: handlers submit, cancel and ask for positions through it; the
in-memory implementation below serves polling mode. A durable implementation (jobs kept in
SQLite so that a restart loses nothing) can replace it without touching the handlers,
which is why a :class:`Job` holds only plain, serialisable data.

Fairness: a user's jobs run one at a time. Workers take the oldest queued job whose user
has nothing running, so one user's pile of briefings does not hold everyone else up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

log = logging.getLogger(__name__)

SourceKind = Literal["text", "file", "url"]


@dataclass(frozen=True, slots=True)
class Source:
    """What to digest: pasted text, a Telegram file (downloaded by the worker) or a link."""

    kind: SourceKind
    # The text itself, the Telegram file_id, or the URL.
    value: str
    name: str = "message.txt"


@dataclass(slots=True)
class Job:
    id: str
    user_id: int
    chat_id: int
    source: Source
    # Languages shown, in order; all of en/hi/ru are computed regardless, for the buttons.
    languages: tuple[str, ...]
    ui_language: str
    status_message_id: int | None = None
    reply_to_message_id: int | None = None
    created: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Cancellation:
    """What /cancel did: waiting jobs dropped, and the running job signalled (if any)."""

    waiting: tuple[Job, ...] = ()
    running: Job | None = None

    @property
    def count(self) -> int:
        return len(self.waiting) + (self.running is not None)


class QueueFullError(Exception):
    """The queue holds as many jobs as it may; the job was not taken."""


class JobCancelled(Exception):
    """Raised inside a running job when its user cancelled it."""


# Runs one job in a worker thread; ``cancelled`` is set when the user cancels it meanwhile.
Runner = Callable[[Job, threading.Event], None]


class JobQueue(Protocol):
    def start(self) -> None:
        """Start the workers."""

    def submit(self, job: Job) -> int:
        """Queue ``job``; returns its 1-based place among waiting jobs. Raises QueueFullError."""

    def cancel(self, user_id: int) -> Cancellation:
        """Drop the user's waiting jobs and signal the running one (it stops at its next stage)."""

    def position(self, user_id: int) -> int | None:
        """0 while the user's job runs, n when their first job waits n-th, None when idle."""

    def stop(self, timeout: float) -> None:
        """Stop taking jobs; wait up to ``timeout`` seconds for running ones."""


class InMemoryJobQueue:
    """Bounded queue served by worker threads; waiting jobs are lost when the process stops."""

    def __init__(self, runner: Runner, workers: int, max_waiting: int) -> None:
        self._runner = runner
        self._workers = workers
        self._max_waiting = max_waiting
        self._waiting: deque[Job] = deque()
        # user id -> (job, cancel flag) of the job being run for that user
        self._running: dict[int, tuple[Job, threading.Event]] = {}
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        for i in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"digest-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: Job) -> int:
        with self._cond:
            if self._stopping or len(self._waiting) >= self._max_waiting:
                raise QueueFullError
            self._waiting.append(job)
            self._cond.notify()
            return len(self._waiting)

    def cancel(self, user_id: int) -> Cancellation:
        with self._cond:
            dropped = tuple(job for job in self._waiting if job.user_id == user_id)
            for job in dropped:
                self._waiting.remove(job)
            running = self._running.get(user_id)
            if running is not None and not running[1].is_set():
                running[1].set()
                return Cancellation(dropped, running[0])
            return Cancellation(dropped)

    def position(self, user_id: int) -> int | None:
        with self._cond:
            if user_id in self._running:
                return 0
            for place, job in enumerate(self._waiting, start=1):
                if job.user_id == user_id:
                    return place
            return None

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        if self._threads:
            log.warning("%d worker(s) still busy at shutdown", len(self._threads))

    def _take(self) -> tuple[Job, threading.Event] | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                for job in self._waiting:
                    if job.user_id not in self._running:
                        self._waiting.remove(job)
                        cancel = threading.Event()
                        self._running[job.user_id] = (job, cancel)
                        return job, cancel
                self._cond.wait()

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            job, cancel = taken
            try:
                self._runner(job, cancel)
            except Exception:
                # The runner reports its own failures; this only keeps the worker alive.
                log.exception("job %s: runner failed", job.id)
            finally:
                with self._cond:
                    self._running.pop(job.user_id, None)
                    # The user's next job may now run.
                    self._cond.notify_all()
