"""The job queue: digests are made by worker threads, never on the event loop.

``JobQueue`` is the seam: handlers submit, cancel and ask for positions through it. Its one
implementation is ``bot/durable_queue.py``: jobs kept in SQLite, so that a restart or a crash
loses nothing; with ``[telegram] job_queue = "memory"`` the same queue runs on an in-memory
SQLite database, lost on a restart. ``bot/redis_queue.py`` is the same queue on Redis and
arq, for several front ends and ``briefing-digest worker`` processes; the handlers do not
change, which is why a :class:`Job` holds only plain, serialisable data.

Attempts: a runner raises :class:`RetryJob` when another attempt may succeed (Telegram
unreachable, an unexpected error). The queue runs the job again after a growing pause, at
most ``max_attempts`` times in all; then ``on_give_up`` tells the user.

Fairness: a user's jobs run one at a time. Workers take the oldest queued job whose user
has nothing running, so one user's pile of briefings does not hold everyone else up.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
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


class CancelFlag(threading.Event):
    """A running job's cancel flag; :meth:`interrupt` stops the job too, but not for its user:
    the attempt ends with RetryJob (a Redis worker's deadline for the attempt, or its stop)."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True
        self.set()


def interrupted(cancel: threading.Event) -> bool:
    return isinstance(cancel, CancelFlag) and cancel.interrupted


class RetryJob(Exception):
    """Raised by a runner: this attempt failed, and another one may succeed."""


class Outcome(StrEnum):
    """How one attempt at a job ended. A runner returns DONE, FAILED or CANCELLED (None counts
    as DONE) or raises RetryJob; the queue adds RETRY (tried again later) and GIVEN_UP (after
    ``max_attempts``)."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY = "retry"
    GIVEN_UP = "given_up"


class JobState(StrEnum):
    """A job's row in the queue: queued -> running -> done / failed / cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def after(cls, outcome: Outcome) -> JobState:
        if outcome is Outcome.DONE:
            return cls.DONE
        if outcome is Outcome.CANCELLED:
            return cls.CANCELLED
        return cls.FAILED


class DeliveryState(StrEnum):
    """Where a job's digest is on its way to the user (kept with the job, so that a re-run
    after a crash never turns a delivered digest back into a status message)."""

    NONE = "none"
    # The digest is rendered and stored; the status message is being replaced by it.
    DELIVERING = "delivering"
    DELIVERED = "delivered"


def new_job_id() -> str:
    """128 random bits: ids are kept for a week in a UNIQUE column and must never collide."""
    return secrets.token_hex(16)


# Runs one job in a worker thread; ``cancelled`` is set when the user cancels it meanwhile.
# Returns the outcome, or raises RetryJob.
Runner = Callable[[Job, threading.Event], "Outcome | None"]
# Called (in a worker thread) for a job that failed ``max_attempts`` times: tell the user.
GiveUp = Callable[[Job], None]
# Told of every job that ends or is retried: (job, outcome, seconds since it was queued).
Observer = Callable[[Job, Outcome, float], None]


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

    def status_message(self, job_id: str) -> int | None:
        """The id of the message that shows the job's status (then its digest), if sent."""

    def set_status_message(self, job_id: str, message_id: int) -> None:
        """Remember the job's status message, so that a re-run reuses it."""

    def delivery(self, job_id: str) -> DeliveryState:
        """How far the job's digest got (NONE for an unknown job)."""

    def set_delivery(self, job_id: str, state: DeliveryState) -> None:
        """Record, durably, that the digest is being delivered or was delivered."""
