"""The job queue: digests are made by worker threads, never on the event loop.

``JobQueue`` is the seam: handlers submit, cancel and ask for positions through it. The
durable implementation (``bot/durable_queue.py``: jobs kept in SQLite, so that a restart or a
crash loses nothing) is the default; the in-memory one below is kept for tests and for
deployments that prefer it (``[telegram] job_queue = "memory"``). A queue on Redis (RQ, arq,
Celery) could replace both without touching the handlers, which is why a :class:`Job` holds
only plain, serialisable data.

Attempts: a runner raises :class:`RetryJob` when another attempt may succeed (Telegram
unreachable, an unexpected error). The queue runs the job again after a growing pause, at
most ``max_attempts`` times in all; then ``on_give_up`` tells the user.

Fairness: a user's jobs run one at a time. Workers take the oldest queued job whose user
has nothing running, so one user's pile of briefings does not hold everyone else up.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

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
    # The Telegram updates this job answers (several for a gathered paste): a redelivered
    # update never makes a second job.
    update_ids: tuple[int, ...] = ()
    # Attempts started so far (a crash during one counts).
    attempts: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Job:
        data: dict[str, Any] = json.loads(raw)
        data["source"] = Source(**data["source"])
        data["languages"] = tuple(data["languages"])
        data["update_ids"] = tuple(data.get("update_ids", ()))
        return cls(**data)


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


class RetryJob(Exception):
    """Raised by a runner: this attempt failed, and another one may succeed."""


# How a job ended, as far as the runner is concerned (None counts as "done").
Outcome = Literal["done", "failed", "cancelled"]
# Runs one job in a worker thread; ``cancelled`` is set when the user cancels it meanwhile.
# Returns the outcome, or raises RetryJob.
Runner = Callable[[Job, threading.Event], "Outcome | None"]
# Called (in a worker thread) for a job that failed ``max_attempts`` times: tell the user.
GiveUp = Callable[[Job], None]
# Told of every job that ends: (job, outcome incl. "given_up", seconds since it was queued).
Observer = Callable[[Job, str, float], None]


class JobRunner(Protocol):
    """What the bot hands the queue factory: the runner, and how to tell a user we gave up."""

    def __call__(self, job: Job, cancel: threading.Event) -> Outcome | None: ...

    def give_up(self, job: Job) -> None: ...


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """For /readyz and /metrics."""

    queued: int
    running: int
    workers: int
    workers_alive: int
    # time.monotonic() of the last job taken or finished (or of the start).
    last_progress: float


def retry_delay(attempts: int, base: float) -> float:
    """Pause before attempt ``attempts + 1``: base, 2 base, 4 base... at most 5 minutes."""
    return float(min(base * 2 ** max(0, attempts - 1), 300.0))


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

    def snapshot(self) -> QueueSnapshot:
        """Counts for health checks and metrics."""


class InMemoryJobQueue:
    """Bounded queue served by worker threads; waiting jobs are lost when the process stops."""

    def __init__(
        self,
        runner: Runner,
        workers: int,
        max_waiting: int,
        *,
        max_attempts: int = 1,
        retry_backoff_s: float = 2.0,
        on_give_up: GiveUp | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._runner = runner
        self._workers = workers
        self._max_waiting = max_waiting
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_s
        self._on_give_up = on_give_up
        self._observer = observer
        self._waiting: deque[Job] = deque()
        # Jobs to try again, with the time.monotonic() from which they may run.
        self._not_before: dict[str, float] = {}
        # user id -> (job, cancel flag) of the job being run for that user
        self._running: dict[int, tuple[Job, threading.Event]] = {}
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._last_progress = time.monotonic()

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
                self._not_before.pop(job.id, None)
            running = self._running.get(user_id)
        for job in dropped:
            self._observe(job, "cancelled")
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

    def snapshot(self) -> QueueSnapshot:
        with self._cond:
            return QueueSnapshot(
                queued=len(self._waiting),
                running=len(self._running),
                workers=self._workers,
                workers_alive=sum(t.is_alive() for t in self._threads),
                last_progress=self._last_progress,
            )

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
                now = time.monotonic()
                wake: float | None = None
                # Users whose earlier job waits to be tried again: their jobs keep their order.
                held: set[int] = set()
                for job in self._waiting:
                    not_before = self._not_before.get(job.id, 0.0)
                    if not_before > now:
                        wake = not_before if wake is None else min(wake, not_before)
                        held.add(job.user_id)
                        continue
                    if job.user_id not in self._running and job.user_id not in held:
                        self._waiting.remove(job)
                        self._not_before.pop(job.id, None)
                        cancel = threading.Event()
                        self._running[job.user_id] = (job, cancel)
                        job.attempts += 1
                        self._last_progress = now
                        return job, cancel
                self._cond.wait(None if wake is None else wake - now)

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            job, cancel = taken
            outcome: str = "done"
            try:
                outcome = self._runner(job, cancel) or "done"
            except RetryJob as exc:
                outcome = self._retry(job, exc)
            except Exception:
                # The runner reports its own failures; this only keeps the worker alive.
                log.exception("job %s: runner failed", job.id)
                outcome = "failed"
            finally:
                with self._cond:
                    self._running.pop(job.user_id, None)
                    self._last_progress = time.monotonic()
                    # The user's next job may now run.
                    self._cond.notify_all()
            self._observe(job, outcome)

    def _observe(self, job: Job, outcome: str) -> None:
        if self._observer is not None:
            try:
                self._observer(job, outcome, time.time() - job.created)
            except Exception:
                log.exception("job observer failed")

    def _retry(self, job: Job, exc: RetryJob) -> str:
        if job.attempts < self._max_attempts:
            delay = retry_delay(job.attempts, self._backoff)
            log.warning(
                "job %s: attempt %d failed (%s); again in %.0f s", job.id, job.attempts, exc, delay
            )
            with self._cond:
                if not self._stopping:
                    self._not_before[job.id] = time.monotonic() + delay
                    self._waiting.appendleft(job)
            return "retry"
        log.error("job %s: giving up after %d attempts (%s)", job.id, job.attempts, exc)
        if self._on_give_up is not None:
            try:
                self._on_give_up(job)
            except Exception:
                log.exception("job %s: could not tell the user", job.id)
        return "given_up"
