"""The job queue and the update ledger in SQLite: a restart or a crash (``kill -9``) loses nothing.

``queue.sqlite3`` under the data directory holds two things:

* **updates**: every Telegram update as received (the webhook stores it *before* answering
  Telegram 200; polling records it before handling it), with its state: ``new`` until its
  handlers are done (or, for a part of a gathered paste, until the paste became a job), then
  ``done``. Updates still ``new`` at start-up are handled again; an ``update_id`` seen before is
  never handled twice (Telegram redelivers updates: unanswered webhooks, unconfirmed polls).
* **jobs**: the digests to make, ``queued`` → ``running`` → ``done`` / ``failed`` /
  ``cancelled``. A job's row and the ``done`` mark of the updates it answers are written in one
  transaction, so an update becomes a job exactly once. Jobs found ``running`` at start-up were
  interrupted by a crash: they are queued again. Each start of a job counts as an attempt
  (before it runs, so a job that crashes the process counts too); after ``max_attempts`` the
  user is told and the job is dropped.

One connection, used by the event loop's helper threads and the worker threads alike, is
serialised by a lock; every statement is short. WAL journal with ``synchronous=FULL``: a commit
is on disk when it returns, so "stored" means stored, power loss included.

:class:`DurableJobQueue` implements the small ``JobQueue`` protocol of ``bot/jobs.py``;
:class:`SqliteUpdateLedger` the ``UpdateLedger`` protocol of ``bot/updates.py``. Their Redis
siblings, for several front ends and workers, are ``bot/redis_queue.py`` and
``bot/redis_ledger.py`` (``[queue] backend = "redis"``, docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Generic, TypeVar

from bot.jobs import (
    Cancellation,
    DeliveryState,
    GiveUp,
    Job,
    JobState,
    Observer,
    Outcome,
    QueueFullError,
    QueueSnapshot,
    RetryJob,
    Runner,
    retry_delay,
)
from bot.sqlite_db import connect, create_schema, describe
from bot.update_claims import ClaimingLedger, UpdateVerdict

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

DB_NAME = "queue.sqlite3"
# Finished updates are remembered this long for de-duplication (Telegram keeps undelivered
# updates for 24 hours), finished jobs this long for the record.
KEEP_UPDATES_S = 48 * 3600
KEEP_JOBS_S = 7 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    update_id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    received REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'new',
    attempts INTEGER NOT NULL DEFAULT 0,
    finished REAL
);
CREATE INDEX IF NOT EXISTS updates_state ON updates (state, update_id);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    available REAL NOT NULL,
    started REAL,
    finished REAL,
    outcome TEXT,
    status_message_id INTEGER,
    delivery TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, user_id, seq);
CREATE TABLE IF NOT EXISTS job_updates (
    update_id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL
);
"""


# Columns added since the first release: (name, declaration), added to older files at start.
_ADDED_COLUMNS = (
    ("status_message_id", "INTEGER"),
    ("delivery", "TEXT NOT NULL DEFAULT 'none'"),
)
# A worker that cannot record a job's end (disk full) tries again this often.
RECORD_RETRY_S = 2.0


class QueueDatabase:
    """``queue.sqlite3``: one writer connection behind a lock, safe to share between threads.

    ``data_dir=None``: a private in-memory database (``[telegram] job_queue = "memory"``).
    """

    def __init__(self, data_dir: Path | None) -> None:
        self.path = None if data_dir is None else Path(data_dir) / DB_NAME
        self._db = connect(self.path)
        self._lock = threading.Lock()
        self._closed = False
        # The last failed write ("database or disk is full"), for /readyz; None once one works.
        self.write_error: str | None = None
        create_schema(self._db, self.path, _SCHEMA)
        with self._lock:
            present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under the lock."""
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the queue database is closed")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                finally:
                    # SQLite itself rolls back after some errors (SQLITE_FULL): only if open.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
            except sqlite3.DatabaseError as exc:
                # Disk full, read-only, damaged: /readyz says so until a write works again.
                if not isinstance(exc, sqlite3.IntegrityError):
                    self.write_error = describe(self.path or ":memory:", exc)
                raise
            self.write_error = None

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("the queue database is closed")
            yield self._db

    # -- updates -----------------------------------------------------------------------------
    def store_update(self, update_id: int, payload: str) -> bool:
        """Keep an update as received; False if this ``update_id`` was stored before."""
        return self.store_updates([(update_id, payload)])[0]

    def store_updates(self, items: Sequence[tuple[int, str]], *, claim: bool = False) -> list[bool]:
        """Keep updates as received, in one transaction (one sync to disk for all); for each,
        False if it was stored before. ``claim``: they are being handled now (an attempt)."""
        now = time.time()
        with self._tx() as db:
            return [
                db.execute(
                    "INSERT OR IGNORE INTO updates (update_id, payload, received, attempts) "
                    "VALUES (?, ?, ?, ?)",
                    (update_id, payload, now, int(claim)),
                ).rowcount
                == 1
                for update_id, payload in items
            ]

    def claim_update(self, update_id: int, payload: str, max_attempts: int) -> UpdateVerdict:
        """Before handling: count an attempt and say whether to handle the update."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO updates (update_id, payload, received) VALUES (?, ?, ?)",
                (update_id, payload, time.time()),
            )
            state, attempts = db.execute(
                "SELECT state, attempts FROM updates WHERE update_id = ?", (update_id,)
            ).fetchone()
            if state == "done":
                return UpdateVerdict.DONE
            if attempts >= max_attempts:
                db.execute(
                    "UPDATE updates SET state = 'done', finished = ? WHERE update_id = ?",
                    (time.time(), update_id),
                )
                return UpdateVerdict.POISON
            db.execute(
                "UPDATE updates SET attempts = attempts + 1 WHERE update_id = ?", (update_id,)
            )
            return UpdateVerdict.HANDLE

    def release_update(self, update_id: int) -> None:
        """Its handling failed for a passing reason (Telegram or the disk): it will be handled
        again, and this attempt does not count towards the poison limit."""
        with self._tx() as db:
            db.execute(
                "UPDATE updates SET attempts = MAX(0, attempts - 1) "
                "WHERE update_id = ? AND state = 'new'",
                (update_id,),
            )

    def finish_updates(self, update_ids: Sequence[int]) -> list[None]:
        if update_ids:
            with self._tx() as db:
                db.executemany(
                    "UPDATE updates SET state = 'done', finished = ? WHERE update_id = ?",
                    [(time.time(), uid) for uid in update_ids],
                )
        return [None] * len(update_ids)

    def unfinished_updates(self) -> list[tuple[int, str]]:
        with self._read() as db:
            return list(
                db.execute(
                    "SELECT update_id, payload FROM updates WHERE state = 'new' ORDER BY update_id"
                )
            )

    def update_counts(self) -> dict[str, int]:
        with self._read() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM updates GROUP BY state"))

    # -- jobs --------------------------------------------------------------------------------
    def insert_job(self, job: Job, max_waiting: int) -> int:
        """Queue ``job`` and mark the updates it answers done, atomically. Returns its place
        among waiting jobs. A job for an update already answered is not queued again (its
        place, or 0, is returned). Raises QueueFullError."""
        with self._tx() as db:
            if job.update_ids:
                marks = ",".join("?" * len(job.update_ids))
                existing = db.execute(
                    f"SELECT job_id FROM job_updates WHERE update_id IN ({marks}) LIMIT 1",
                    job.update_ids,
                ).fetchone()
                if existing is not None:
                    log.info("update(s) %s have their job already", job.update_ids)
                    return self._place_of(db, existing[0])
            (waiting,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()
            if waiting >= max_waiting:
                raise QueueFullError
            now = time.time()
            db.execute(
                "INSERT INTO jobs (id, user_id, chat_id, payload, state, attempts, created, "
                "available) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)",
                (job.id, job.user_id, job.chat_id, job.to_json(), job.created, now),
            )
            db.executemany(
                "INSERT OR IGNORE INTO job_updates (update_id, job_id) VALUES (?, ?)",
                [(uid, job.id) for uid in job.update_ids],
            )
            db.executemany(
                "UPDATE updates SET state = 'done', finished = ? WHERE update_id = ?",
                [(now, uid) for uid in job.update_ids],
            )
            return int(waiting) + 1

    @staticmethod
    def _place_of(db: sqlite3.Connection, job_id: str) -> int:
        row = db.execute("SELECT seq, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row[1] != "queued":
            return 0
        (place,) = db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq <= ?", (row[0],)
        ).fetchone()
        return int(place)

    def take_job(self, max_attempts: int) -> tuple[Job, bool] | None:
        """The oldest job that may run now (its user has nothing running and no older job
        waiting), marked running with one more attempt; ``(job, True)`` means it has had all
        its attempts (each ended in a crash): it is marked running without another one, and
        only its user's apology is left to do."""
        now = time.time()
        with self._tx() as db:
            row = db.execute(
                "SELECT j.seq, j.payload, j.attempts, j.status_message_id FROM jobs j "
                "WHERE j.state = 'queued' AND j.available <= ? "
                "AND j.user_id NOT IN (SELECT user_id FROM jobs WHERE state = 'running') "
                "AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.state = 'queued' "
                "AND e.user_id = j.user_id AND e.seq < j.seq) "
                "ORDER BY j.seq LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            seq, payload, attempts, status_message_id = row
            job = _job(payload, status_message_id)
            job.attempts = attempts
            if attempts >= max_attempts:
                # Running, without another attempt: only the apology is left to send.
                db.execute(
                    "UPDATE jobs SET state = 'running', started = ? WHERE seq = ?", (now, seq)
                )
                return job, True
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ? "
                "WHERE seq = ?",
                (now, seq),
            )
            job.attempts = attempts + 1
            return job, False

    def next_available(self) -> float | None:
        """Seconds until a job waiting to be retried may run (None: none waits for that)."""
        now = time.time()
        with self._read() as db:
            (first,) = db.execute(
                "SELECT MIN(available) FROM jobs WHERE state = 'queued' AND available > ?", (now,)
            ).fetchone()
        return None if first is None else max(0.0, first - now)

    def finish_job(self, job_id: str, outcome: Outcome) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = ?, outcome = ?, finished = ? WHERE id = ?",
                (JobState.after(outcome).value, outcome.value, time.time(), job_id),
            )

    def status_message(self, job_id: str) -> int | None:
        with self._read() as db:
            row = db.execute(
                "SELECT status_message_id FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else row[0]

    def set_status_message(self, job_id: str, message_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id))

    def delivery(self, job_id: str) -> DeliveryState:
        with self._read() as db:
            row = db.execute("SELECT delivery FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return DeliveryState.NONE if row is None else DeliveryState(row[0])

    def set_delivery(self, job_id: str, state: DeliveryState) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET delivery = ? WHERE id = ?", (state.value, job_id))

    def requeue_job(self, job_id: str, delay: float, *, uncharge: bool = False) -> None:
        """Back to the queue after ``delay`` s; ``uncharge``: this attempt does not count."""
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'queued', available = ?, "
                "attempts = MAX(0, attempts - ?) WHERE id = ? AND state = 'running'",
                (time.time() + delay, int(uncharge), job_id),
            )

    def recover(self) -> int:
        """Jobs left running by a crash go back to the queue (their attempt stays counted)."""
        with self._tx() as db:
            return db.execute(
                "UPDATE jobs SET state = 'queued', available = ? WHERE state = 'running'",
                (time.time(),),
            ).rowcount

    def cancel_waiting(self, user_id: int) -> list[Job]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT seq, payload, status_message_id FROM jobs "
                "WHERE state = 'queued' AND user_id = ? ORDER BY seq",
                (user_id,),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET state = 'cancelled', outcome = 'cancelled', finished = ? "
                "WHERE seq = ?",
                [(time.time(), seq) for seq, _, _ in rows],
            )
        return [_job(payload, status_message_id) for _, payload, status_message_id in rows]

    def waiting_place(self, user_id: int) -> int | None:
        with self._read() as db:
            (first,) = db.execute(
                "SELECT MIN(seq) FROM jobs WHERE state = 'queued' AND user_id = ?", (user_id,)
            ).fetchone()
            if first is None:
                return None
            (place,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq <= ?", (first,)
            ).fetchone()
        return int(place)

    def job_counts(self) -> dict[str, int]:
        with self._read() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"))

    def job_state(self, job_id: str) -> tuple[JobState, int] | None:
        with self._read() as db:
            row = db.execute("SELECT state, attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else (JobState(row[0]), row[1])

    def prune(self) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "DELETE FROM updates WHERE state = 'done' AND finished < ?", (now - KEEP_UPDATES_S,)
            )
            db.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished < ?",
                (now - KEEP_JOBS_S,),
            )
            db.execute(
                "DELETE FROM job_updates WHERE job_id NOT IN (SELECT id FROM jobs) "
                "AND update_id NOT IN (SELECT update_id FROM updates)"
            )


def _job(payload: str, status_message_id: int | None) -> Job:
    """A job from its row: the status message may have been recorded after it was queued."""
    job = Job.from_json(payload)
    if status_message_id is not None:
        job.status_message_id = status_message_id
    return job


class DurableJobQueue:
    """``JobQueue`` on :class:`QueueDatabase`, served by worker threads.

    Fairness: a user's jobs run one at a time, in order; workers serve other users meanwhile.
    Which job each worker runs, and its cancel flag, is also kept in memory: ``/cancel`` and
    ``/status`` need them, and the database knows them too.
    """

    def __init__(
        self,
        db: QueueDatabase,
        runner: Runner,
        workers: int,
        max_waiting: int,
        *,
        max_attempts: int = 3,
        retry_backoff_s: float = 2.0,
        on_give_up: GiveUp | None = None,
        observer: Observer | None = None,
    ) -> None:
        self._db = db
        self._runner = runner
        self._workers = workers
        self._max_waiting = max_waiting
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_s
        self._on_give_up = on_give_up
        self._observer = observer
        self._running: dict[int, tuple[Job, threading.Event]] = {}
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._last_progress = time.monotonic()

    def start(self) -> None:
        recovered = self._db.recover()
        if recovered:
            log.warning("%d job(s) interrupted by a crash are queued again", recovered)
        counts = self._db.job_counts()
        if counts.get("queued"):
            log.info("%d job(s) waiting from before the restart", counts["queued"])
        with self._cond:
            self._stopping = False
            self._last_progress = time.monotonic()
        for i in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"digest-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, job: Job) -> int:
        with self._cond:
            if self._stopping:
                raise QueueFullError
            place = self._db.insert_job(job, self._max_waiting)
            self._cond.notify_all()
            return place

    def cancel(self, user_id: int) -> Cancellation:
        with self._cond:
            dropped = tuple(self._db.cancel_waiting(user_id))
            self._cond.notify_all()
            running = self._running.get(user_id)
        for job in dropped:
            self._observe(job, Outcome.CANCELLED)
        if running is not None and not running[1].is_set():
            running[1].set()
            return Cancellation(dropped, running[0])
        return Cancellation(dropped)

    def position(self, user_id: int) -> int | None:
        with self._cond:
            if user_id in self._running:
                return 0
        return self._db.waiting_place(user_id)

    def snapshot(self) -> QueueSnapshot:
        counts = self._db.job_counts()
        with self._cond:
            return QueueSnapshot(
                queued=counts.get("queued", 0),
                running=len(self._running),
                workers=self._workers,
                workers_alive=sum(t.is_alive() for t in self._threads),
                last_progress=self._last_progress,
            )

    def stop(self, timeout: float) -> None:
        """Stop taking jobs, give running ones ``timeout`` s, put the rest back in the queue."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        with self._cond:
            unfinished = [job for job, _ in self._running.values()]
        for job in unfinished:
            # Still running after the grace period: it will be run again after the restart,
            # and this interrupted attempt does not count against it.
            with contextlib.suppress(sqlite3.Error):
                self._db.requeue_job(job.id, 0.0, uncharge=True)
        if unfinished:
            log.warning(
                "%d job(s) still running at shutdown are kept for the next start", len(unfinished)
            )

    # -- workers -------------------------------------------------------------------------------
    def _take(self) -> tuple[Job, threading.Event | None] | None:
        """The next job and its cancel flag; a None flag means: give up on it."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                try:
                    taken = self._db.take_job(self._max_attempts)
                    wait = None if taken is not None else self._db.next_available()
                except sqlite3.Error as exc:
                    log.error("cannot read the job queue (%s); trying again in 5 s", exc)
                    taken, wait = None, 5.0
                if taken is not None:
                    job, exhausted = taken
                    self._last_progress = time.monotonic()
                    if exhausted:
                        return job, None
                    cancel = threading.Event()
                    self._running[job.user_id] = (job, cancel)
                    return job, cancel
                self._cond.wait(wait)

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            job, cancel = taken
            outcome = self._attempt(job, cancel)
            if outcome is not Outcome.RETRY:
                self._record(job, "its end", partial(self._db.finish_job, job.id, outcome))
            with self._cond:
                self._running.pop(job.user_id, None)
                self._last_progress = time.monotonic()
                self._cond.notify_all()
            self._observe(job, outcome)

    def _attempt(self, job: Job, cancel: threading.Event | None) -> Outcome:
        if cancel is None:
            log.error("job %s: interrupted %d times, giving up", job.id, job.attempts)
            return self._give_up(job)
        try:
            return Outcome(self._runner(job, cancel) or Outcome.DONE)
        except RetryJob as exc:
            return self._retry(job, exc)
        except Exception:
            log.exception("job %s: runner failed", job.id)
            return Outcome.FAILED

    def _record(self, job: Job, what: str, write: Callable[[], None]) -> None:
        """Write to the queue, trying again while the disk is full (or the file locked) until
        it works or the queue stops; then the row still says running, and the next start
        runs the job again."""
        logged = False
        while True:
            try:
                write()
                if logged:
                    log.warning("job %s: %s is recorded now", job.id, what)
                return
            except sqlite3.ProgrammingError:
                return  # closed: shutting down
            except sqlite3.Error as exc:
                if not logged:
                    log.error("job %s: cannot record %s (%s); trying again", job.id, what, exc)
                    logged = True
            with self._cond:
                if self._stopping:
                    return
                self._cond.wait(RECORD_RETRY_S)

    def _retry(self, job: Job, exc: RetryJob) -> Outcome:
        with self._cond:
            stopping = self._stopping
        if stopping:
            # Interrupted by the shutdown: kept for the next start, not counted.
            self._record(
                job, "its interruption", lambda: self._db.requeue_job(job.id, 0.0, uncharge=True)
            )
            return Outcome.RETRY
        if job.attempts < self._max_attempts:
            delay = retry_delay(job.attempts, self._backoff)
            log.warning(
                "job %s: attempt %d failed (%s); again in %.0f s", job.id, job.attempts, exc, delay
            )
            self._record(job, "its retry", lambda: self._db.requeue_job(job.id, delay))
            return Outcome.RETRY
        log.error("job %s: giving up after %d attempts (%s)", job.id, job.attempts, exc)
        return self._give_up(job)

    def _give_up(self, job: Job) -> Outcome:
        """Tell the user; if that fails (Telegram down), the job waits and tries again: an
        acknowledged briefing ends with its digest or with its apology, never silently."""
        if self._on_give_up is None:
            return Outcome.GIVEN_UP
        try:
            self._on_give_up(job)
            return Outcome.GIVEN_UP
        except Exception as exc:
            delay = retry_delay(job.attempts, self._backoff)
            log.warning(
                "job %s: could not tell the user (%s); trying again in %.0f s", job.id, exc, delay
            )
            self._record(job, "its retry", lambda: self._db.requeue_job(job.id, delay))
            return Outcome.RETRY

    def _observe(self, job: Job, outcome: Outcome) -> None:
        if self._observer is not None:
            try:
                self._observer(job, outcome, time.time() - job.created)
            except Exception:
                log.exception("job observer failed")

    # -- the job's record ---------------------------------------------------------------------
    def status_message(self, job_id: str) -> int | None:
        return self._db.status_message(job_id)

    def set_status_message(self, job_id: str, message_id: int) -> None:
        self._db.set_status_message(job_id, message_id)

    def delivery(self, job_id: str) -> DeliveryState:
        return self._db.delivery(job_id)

    def set_delivery(self, job_id: str, state: DeliveryState) -> None:
        self._db.set_delivery(job_id, state)


class GroupCommit(Generic[T, R]):
    """Writes asked for while a transaction is being committed go together into the next one.

    With ``synchronous=FULL`` every commit waits for the disk; twenty webhook requests
    arriving together then cost one or two syncs instead of twenty. Each caller still gets
    its answer only once its own write is on disk. Used on the event loop only.
    """

    def __init__(self, write: Callable[[list[T]], list[R]]) -> None:
        self._write = write
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                results = await asyncio.to_thread(self._write, [item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)


class SqliteUpdateLedger(ClaimingLedger):
    """``UpdateLedger`` on :class:`QueueDatabase` (see ``bot/updates.py`` for the contract)."""

    def __init__(self, db: QueueDatabase, max_attempts: int = 3) -> None:
        super().__init__(max_attempts)
        self._db = db
        self._store = GroupCommit[tuple[int, str], bool](
            lambda items: db.store_updates(items, claim=True)
        )
        self._finish = GroupCommit[int, None](db.finish_updates)

    async def _write_update(self, update_id: int, payload: str) -> bool:
        return await self._store((update_id, payload))

    async def _claim_update(self, update_id: int, payload: str) -> UpdateVerdict:
        return await asyncio.to_thread(
            self._db.claim_update, update_id, payload, self._max_attempts
        )

    async def _write_finished(self, update_id: int) -> None:
        await self._finish(update_id)

    async def _write_settled(self, update_ids: Sequence[int]) -> None:
        await asyncio.to_thread(self._db.finish_updates, list(update_ids))

    async def _write_released(self, update_id: int) -> None:
        await asyncio.to_thread(self._db.release_update, update_id)

    async def unfinished(self) -> list[tuple[int, str]]:
        return await asyncio.to_thread(self._db.unfinished_updates)
