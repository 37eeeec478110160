"""A pool of digest worker processes: isolation, limits, retries, progress and cancel.

    with WorkerPool(settings) as pool:
        future = pool.submit(DigestRequest(BytesSource(data, "a.txt"), ("en",)))
        result = future.result()                       # from a thread
        result = await asyncio.wrap_future(future)     # or from asyncio

Workers are started with the spawn context, never fork: OpenMP (libgomp) in the model
runtimes hangs in a forked child. Each worker builds its engine once (``factory``) and runs
one job at a time. Per job:

* time: past ``job_timeout_s`` the pool kills the worker; the job fails with
  :class:`LimitExceededError` (TIME) and the worker is replaced;
* memory: the worker caps its address space (RLIMIT_AS) for the job; a MemoryError is
  reported, the job fails with :class:`LimitExceededError` (MEMORY), the worker is replaced;
* a worker that dies otherwise (SIGSEGV, OOM kill) loses nothing: its job runs again, at most
  ``max_retries`` more times, then fails with :class:`WorkerCrashedError`;
* progress: ``digest.pipeline.Progress`` objects, handed to the job's callback;
* cancel: the caller's ``threading.Event``; the worker sees it at the next stage boundary
  (or is killed ``cancel_grace_s`` later). A progress callback that raises cancels its job too,
  and the future fails with what it raised.

One dispatcher thread owns the workers; callbacks (progress, future done-callbacks) run on it
and must be quick. It also starts every worker: on Linux a worker is bound to the thread that
started it (workers/lifeline.py).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from enum import Enum
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from multiprocessing.synchronize import Event
from typing import Any

from digest.pipeline import ProgressCallback
from settings.schema import Settings
from workers.child import worker_main
from workers.compute import PipelineFactory, build_pipeline
from workers.errors import (
    JobCancelledError,
    LimitExceededError,
    LimitKind,
    PoolClosedError,
    WorkerCrashedError,
    WorkerStartError,
)
from workers.jobs import DigestRequest, DigestResult
from workers.limits import JobLimits, cpu_count
from workers.protocol import (
    JobCancelled,
    JobDone,
    JobFailed,
    JobOverMemory,
    JobProgress,
    Ready,
    RunJob,
    StartFailed,
    Stop,
)

log = logging.getLogger(__name__)
# Workers that die before they are ready, in a row, before the pool gives up on starting them.
START_ATTEMPTS = 3
# How often caller-side cancel flags are looked at while a job that has one is in the pool.
CANCEL_POLL_S = 0.05
# Seconds a worker that reported a memory breach has to exit before it is killed.
EXIT_GRACE_S = 2.0


def default_worker_count() -> int:
    """One worker per core: bench/worker_pool.py measured it against one fewer."""
    return cpu_count()


class WorkerState(Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    # Killed or exiting (limit breach, stuck after cancel); replaced once it is gone.
    RETIRING = "retiring"


@dataclass(eq=False)
class _Job:
    id: int
    request: DigestRequest
    future: Future[DigestResult]
    progress: ProgressCallback | None
    cancel: threading.Event | None
    crashes: int = 0
    started: bool = False


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    cancel: Event
    state: WorkerState = WorkerState.STARTING
    pid: int | None = None
    job: _Job | None = None
    deadline: float | None = None
    kill_at: float | None = None
    start_error: str | None = None


@dataclass(frozen=True, slots=True)
class PoolStats:
    workers: int
    ready: int
    busy: int
    queued: int
    completed: int = 0
    failed: int = 0
    time_limit: int = 0
    memory_limit: int = 0
    crashes: int = 0
    restarts: int = 0


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        *,
        factory: PipelineFactory = build_pipeline,
        count: int | None = None,
        limits: JobLimits | None = None,
        close_timeout_s: float = 5.0,
    ) -> None:
        self._settings = settings
        self._factory = factory
        self.count = count or settings.workers.count or default_worker_count()
        self.limits = limits or JobLimits.from_settings(settings.workers)
        self._close_timeout = close_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._ids = itertools.count(1)
        # Guards what callers touch: the queue, the flags, the snapshot below.
        self._lock = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._closing = False
        self._broken: str | None = None
        self._counters = dict.fromkeys(
            ("completed", "failed", "time_limit", "memory_limit", "crashes", "restarts"), 0
        )
        self._pids: tuple[int, ...] = ()
        self._busy = 0
        # Owned by the dispatcher thread alone.
        self._workers: list[_Worker] = []
        self._start_failures = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._serve, name="digest-pool", daemon=True)
        self._thread.start()
        # An owner that exits without close(): stop the workers before the interpreter tears
        # down (multiprocessing's own exit handler would kill them under the dispatcher).
        atexit.register(self.close)

    # -- the caller's side ---------------------------------------------------------------------
    def submit(
        self,
        request: DigestRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[DigestResult]:
        future: Future[DigestResult] = Future()
        with self._lock:
            if self._closing:
                raise PoolClosedError("the digest worker pool is closed")
            if self._broken is not None:
                future.set_exception(WorkerStartError(self._broken))
                return future
            self._pending.append(_Job(next(self._ids), request, future, progress, cancel))
        self._wake()
        return future

    def wait_ready(self, timeout: float) -> bool:
        """True once every worker has loaded its engine (False on timeout or a broken pool)."""
        with self._lock:
            self._lock.wait_for(
                lambda: len(self._pids) == self.count or self._broken or self._closing, timeout
            )
            return len(self._pids) == self.count

    def pids(self) -> tuple[int, ...]:
        """Process ids of the ready workers."""
        with self._lock:
            return self._pids

    def stats(self) -> PoolStats:
        with self._lock:
            return PoolStats(
                workers=self.count,
                ready=len(self._pids),
                busy=self._busy,
                queued=len(self._pending),
                **self._counters,
            )

    @property
    def broken(self) -> str | None:
        """Why workers cannot start, once the pool gave up on them."""
        with self._lock:
            return self._broken

    def close(self) -> None:
        """Fail what is queued or running with PoolClosedError, stop the workers, wait."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        atexit.unregister(self.close)
        self._wake()
        self._thread.join(self._close_timeout + 10)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wake(self) -> None:
        # BlockingIOError: a wake-up is already pending; OSError: the pool is closed.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- the dispatcher thread -----------------------------------------------------------------
    def _serve(self) -> None:
        try:
            for _ in range(self.count):
                self._spawn()
            while not self._is_closing():
                self._drop_cancelled()
                self._assign()
                objects: list[Any] = [self._wake_r]
                for w in self._workers:
                    objects += [w.conn, w.process.sentinel]
                ready = wait(objects, self._timeout())
                if self._wake_r in ready:
                    self._drain_wake()
                for w in list(self._workers):
                    if w.conn in ready:
                        self._receive(w)
                for w in list(self._workers):
                    if w.process.sentinel in ready:
                        self._reap(w)
                self._enforce(time.monotonic())
        except Exception:
            log.exception("the digest pool's dispatcher failed")
        finally:
            self._shutdown()

    def _spawn(self) -> None:
        try:
            self._start_process()
        except OSError as exc:  # out of processes, descriptors or memory
            log.error("cannot start a digest worker: %s", exc)
            if not self._workers:
                self._give_up(f"the digest workers cannot start: {exc.strerror or exc}")

    def _start_process(self) -> None:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        cancel = self._ctx.Event()
        process = self._ctx.Process(
            target=worker_main,
            args=(
                child_end,
                cancel,
                self._settings,
                self._factory,
                self.limits.memory_mb,
                multiprocessing.current_process().pid,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="digest-worker",
            daemon=True,
        )
        try:
            process.start()
        except OSError:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._workers.append(_Worker(process, parent_end, cancel))

    def _assign(self) -> None:
        for worker in self._workers:
            while worker.state is WorkerState.IDLE:
                with self._lock:
                    job = self._pending.popleft() if self._pending else None
                if job is None:
                    return
                self._send(worker, job)

    def _send(self, worker: _Worker, job: _Job) -> None:
        if not job.started:
            if not job.future.set_running_or_notify_cancel():
                return  # the caller cancelled it while it waited
            job.started = True
        try:
            payload = ForkingPickler.dumps(RunJob(job.id, job.request))
        except Exception as exc:
            self._settle(job, error=TypeError(f"the request cannot be sent to a worker: {exc}"))
            return
        worker.cancel.clear()
        try:
            worker.conn.send_bytes(payload)
        except OSError:
            # The worker is dying: the job goes back to the front, the worker is reaped.
            with self._lock:
                self._pending.appendleft(job)
            self._retire(worker, kill=True)
            return
        worker.state, worker.job = WorkerState.BUSY, job
        worker.deadline = time.monotonic() + self.limits.timeout_s
        self._publish()

    def _receive(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass  # the worker is gone: its sentinel says so
        except Exception:
            log.exception("unreadable message from worker %s; replacing it", worker.pid)
            self._retire(worker, kill=True)

    def _handle(self, worker: _Worker, message: object) -> None:
        job = worker.job
        if isinstance(message, Ready):
            worker.state, worker.pid = WorkerState.IDLE, message.pid
            self._start_failures = 0
            self._publish()
        elif isinstance(message, StartFailed):
            worker.start_error = message.reason
        elif isinstance(message, JobProgress):
            if job is not None and job.id == message.job_id:
                self._report(worker, job, message)
        elif isinstance(message, JobDone | JobFailed | JobCancelled):
            if job is None or job.id != message.job_id:
                return
            if isinstance(message, JobDone):
                self._settle(job, result=message.result)
            elif isinstance(message, JobFailed):
                self._settle(job, error=message.error.rebuild())
            else:
                self._settle(job, error=JobCancelledError("the briefing was cancelled"))
            worker.state, worker.job, worker.deadline, worker.kill_at = (
                WorkerState.IDLE,
                None,
                None,
                None,
            )
            self._publish()
        elif isinstance(message, JobOverMemory):
            if job is not None and job.id == message.job_id:
                self._count("memory_limit")
                log.warning("job %d broke its memory limit in worker %s", job.id, worker.pid)
                self._settle(job, error=LimitExceededError(LimitKind.MEMORY, self.limits.memory_mb))
            self._retire(worker, kill=False)

    def _report(self, worker: _Worker, job: _Job, message: JobProgress) -> None:
        if job.progress is None or job.future.done():
            return
        try:
            job.progress(message.progress)
        except Exception as exc:  # the caller's way to stop the job
            self._cancel(worker, job, exc)

    def _cancel(self, worker: _Worker, job: _Job, reason: BaseException) -> None:
        worker.cancel.set()
        worker.kill_at = time.monotonic() + self.limits.cancel_grace_s
        self._settle(job, error=reason)

    def _enforce(self, now: float) -> None:
        for worker in list(self._workers):
            job = worker.job
            if worker.state is WorkerState.BUSY and job is not None and not job.future.done():
                if job.cancel is not None and job.cancel.is_set():
                    self._cancel(worker, job, JobCancelledError("the briefing was cancelled"))
                elif worker.deadline is not None and now >= worker.deadline:
                    self._count("time_limit")
                    log.warning("job %d broke its time limit in worker %s", job.id, worker.pid)
                    self._settle(
                        job, error=LimitExceededError(LimitKind.TIME, self.limits.timeout_s)
                    )
                    self._retire(worker, kill=True)
                    continue
            if worker.kill_at is not None and now >= worker.kill_at:
                log.warning("worker %s did not stop in time; killing it", worker.pid)
                self._retire(worker, kill=True)

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        """The worker's job (if any) is settled; it goes, and a new one takes its place."""
        worker.state, worker.job, worker.deadline = WorkerState.RETIRING, None, None
        self._publish()  # before the kill: whoever sees it gone must not find it listed
        if kill:
            worker.kill_at = None
            worker.process.kill()
        else:
            worker.kill_at = time.monotonic() + EXIT_GRACE_S

    def _reap(self, worker: _Worker) -> None:
        """The worker's process ended: settle or requeue its job, start a replacement."""
        self._receive(worker)  # anything it said before it went
        worker.process.join(1)
        self._workers.remove(worker)
        worker.conn.close()
        how = _describe_exit(worker.process.exitcode)
        job = worker.job
        if self._is_closing():
            if job is not None:
                self._settle(job, error=PoolClosedError("the digest worker pool was closed"))
            return  # the pool is stopping: nothing to restart
        if worker.state is WorkerState.STARTING:
            self._start_failures += 1
            reason = worker.start_error or f"a worker {how} while starting"
            log.error("digest worker failed to start: %s", reason)
            if self._start_failures >= START_ATTEMPTS:
                if not self._pids:
                    self._give_up(f"the digest workers cannot start: {reason}")
                else:
                    log.error("not restarting it: the pool goes on with fewer workers")
                self._publish()
                return
        elif job is not None and not job.future.done():
            job.crashes += 1
            self._count("crashes")
            log.warning(
                "worker %s %s during job %d (crash %d)", worker.pid, how, job.id, job.crashes
            )
            if job.crashes > self.limits.max_retries:
                self._settle(
                    job,
                    error=WorkerCrashedError(
                        f"the digest worker stopped unexpectedly {job.crashes} times on this "
                        f"briefing (last: {how})"
                    ),
                )
            else:
                with self._lock:
                    self._pending.appendleft(job)
        self._count("restarts")
        self._spawn()
        self._publish()

    def _give_up(self, reason: str) -> None:
        with self._lock:
            self._broken = reason
            waiting = list(self._pending)
            self._pending.clear()
            self._lock.notify_all()
        for job in waiting:
            if job.started or job.future.set_running_or_notify_cancel():
                self._settle(job, error=WorkerStartError(reason))

    def _drop_cancelled(self) -> None:
        with self._lock:
            dropped = [
                j
                for j in self._pending
                if j.future.cancelled() or (j.cancel is not None and j.cancel.is_set())
            ]
            for job in dropped:
                self._pending.remove(job)
        for job in dropped:
            if not job.future.cancelled():
                if not job.started:
                    job.future.set_running_or_notify_cancel()
                self._settle(job, error=JobCancelledError("the briefing was cancelled"))

    def _timeout(self) -> float | None:
        now = time.monotonic()
        moments = [w.deadline for w in self._workers if w.deadline is not None]
        moments += [w.kill_at for w in self._workers if w.kill_at is not None]
        timeout = max(0.0, min(moments) - now) if moments else None
        with self._lock:
            watched = any(j.cancel is not None for j in self._pending)
        watched = watched or any(
            w.job is not None and w.job.cancel is not None for w in self._workers
        )
        if watched:
            timeout = CANCEL_POLL_S if timeout is None else min(timeout, CANCEL_POLL_S)
        return timeout

    def _settle(
        self, job: _Job, *, result: DigestResult | None = None, error: BaseException | None = None
    ) -> None:
        if job.future.done():
            return
        if error is None:
            self._count("completed")
            job.future.set_result(result)  # type: ignore[arg-type]
        else:
            self._count("failed")
            job.future.set_exception(error)

    def _count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def _publish(self) -> None:
        """The snapshot callers read (pids, busy), and a nudge to wait_ready."""
        with self._lock:
            self._pids = tuple(
                w.pid
                for w in self._workers
                if w.pid is not None and w.state in (WorkerState.IDLE, WorkerState.BUSY)
            )
            self._busy = sum(1 for w in self._workers if w.state is WorkerState.BUSY)
            self._lock.notify_all()

    def _is_closing(self) -> bool:
        with self._lock:
            return self._closing

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _shutdown(self) -> None:
        with self._lock:
            self._closing = True
            waiting = list(self._pending)
            self._pending.clear()
        closed = PoolClosedError("the digest worker pool was closed")
        for job in waiting:
            if job.started or job.future.set_running_or_notify_cancel():
                self._settle(job, error=closed)
        for worker in self._workers:
            if worker.job is not None:
                self._settle(worker.job, error=closed)
                worker.process.kill()  # its answer is no longer wanted
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(Stop())
        deadline = time.monotonic() + self._close_timeout
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1)
            worker.conn.close()
        self._workers.clear()
        self._publish()
        self._wake_r.close()
        self._wake_w.close()


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"
