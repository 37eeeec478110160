"""The worker process: load the engine once, then run jobs one at a time until told to stop.

Started with multiprocessing's spawn context by :class:`workers.pool.WorkerPool`; everything
it receives is pickled. It sets the memory limit around each job itself; the time limit is
the pool's (it kills the worker), since a job stuck in native code cannot be interrupted from
inside.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from digest.errors import DigestError
from digest.pipeline import Progress
from settings.schema import SUPPORTED_LANGUAGES, IngestSettings, Settings
from workers.compute import DigestEngine, PipelineFactory, compute
from workers.lifeline import bind_to_parent
from workers.limits import MemoryLimit, caused_by_memory
from workers.protocol import (
    ErrorRecord,
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
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
# Exit status after a job broke the memory limit (the pool replaces the worker).
MEMORY_EXIT = 3
WARM_UP_TEXT = (
    "The Minister of External Affairs met the Foreign Minister of Japan in New Delhi today. "
    "The two ministers discussed trade, energy and the security of shipping lanes. "
    "They agreed to meet again next year to review the progress of the partnership."
)


class _Cancelled(Exception):
    """Raised at a stage boundary once the pool set the job's cancel flag."""


def worker_main(
    conn: Connection,
    cancel: Event,
    settings: Settings,
    factory: PipelineFactory,
    memory_mb: int,
    parent_pid: int,
    log_level: int = logging.WARNING,
) -> None:
    bind_to_parent(parent_pid)
    if settings.workers.nice and hasattr(os, "nice"):
        os.nice(settings.workers.nice)
    # Ctrl-C reaches the whole process group; the parent decides what happens to jobs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    try:
        engine = factory(settings)
        if settings.workers.warm_up:
            _warm_up(engine, settings)
    except Exception as exc:
        log.exception("the digest worker cannot start")
        conn.send(StartFailed(ErrorRecord.of(exc).message))
        return
    conn.send(Ready(os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the pool is gone
        if isinstance(message, Stop):
            return
        if isinstance(message, RunJob):
            _run(conn, cancel, engine, message, settings.ingest, memory_mb)


def _run(
    conn: Connection,
    cancel: Event,
    engine: DigestEngine,
    job: RunJob,
    ingest: IngestSettings,
    memory_mb: int,
) -> None:
    def checkpoint() -> None:
        if cancel.is_set():
            raise _Cancelled

    def progress(step: Progress) -> None:
        checkpoint()
        conn.send(JobProgress(job.job_id, step))

    limit = MemoryLimit(memory_mb)
    reply: object
    over_memory = False
    try:
        with limit:
            result = compute(engine, job.request, ingest, progress, checkpoint)
        reply = JobDone(job.job_id, result)
    except _Cancelled:
        reply = JobCancelled(job.job_id)
    except Exception as exc:
        limit.lift()
        if caused_by_memory(exc):
            over_memory = True
            reply = JobOverMemory(job.job_id)
        else:
            if not isinstance(exc, DigestError):
                log.exception("job %d failed in the worker", job.job_id)
            reply = JobFailed(job.job_id, ErrorRecord.of(exc))
    if over_memory:
        # The traceback kept the job's objects alive; let them go before answering.
        gc.collect()
        conn.send(reply)
        # A heap that hit its ceiling may be fragmented or half-updated: start afresh.
        os._exit(MEMORY_EXIT)
    conn.send(reply)


def _warm_up(engine: DigestEngine, settings: Settings) -> None:
    """Load the models a typical job needs now, not in (and against the limits of) a job."""
    from digest.model import Document

    doc = Document("warm-up.txt", WARM_UP_TEXT, "txt")
    try:
        engine.run(doc, list(SUPPORTED_LANGUAGES))
    except Exception:
        log.warning("warm-up digest failed; models load on the first job", exc_info=True)
