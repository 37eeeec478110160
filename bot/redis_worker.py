"""``briefing-digest worker``: runs digest jobs from Redis (arq) and answers through the Bot API.

One worker process hosts:

* an **arq** ``Worker`` on the bot's queue (``<key_prefix>:arq:queue``), running up to
  ``[queue] worker_jobs`` jobs at once. An attempt has ``[workers] job_timeout_s + [queue]
  job_slack_s`` (then it is interrupted); arq's limit is that + ``cancel_grace_s`` + 5 s, and
  its lease arq's limit + 10 s: a worker that dies (``kill -9``, a lost machine) leaves its job
  to another one once the lease has run out, never while it lives;
* the **digest pool** of ``workers/`` (spawned processes, models loaded once each, the
  per-job time and memory limits, crash retries): the same isolation as the one-machine bot;
* :class:`bot.runner.DigestRunner`, the same code the one-machine bot runs a job with:
  download, digest in the pool, status message, delivery, all through the Bot API with the
  token from ``TELEGRAM_BOT_TOKEN``.

Attempts, the apology after the last one, one running job per user and ``/cancel`` are kept
in the job's record (``bot/redis_queue.py``), not in arq: arq's own tries also count the
times a job waited for its user's other job.

SIGTERM: no new jobs; running ones get ``[webhook] shutdown_grace_s`` to finish; the rest are
interrupted (the attempt does not count) and go back to the queue for another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from typing import Any

from arq import Retry, Worker
from arq.connections import RedisSettings
from arq.worker import func
from telegram.ext import ExtBot

from bot.api_retry import RetryingRateLimiter
from bot.delivery import Delivery
from bot.gather import Paste, PasteGatherer
from bot.jobs import CancelFlag, Job, Outcome, RetryJob, retry_delay
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter
from bot.redis_follow import FOLLOW_DIGEST_FUNCTION, FOLLOW_DIGEST_TRIES, follow_digest
from bot.redis_keys import DIGEST_FUNCTION, Keys, job_timeout_s, sync_client
from bot.redis_queue import AttemptVerdict, RedisJobQueue
from bot.redis_store import RedisStore
from bot.runner import DigestRunner
from bot.services import Services, Started
from bot.status_messages import StatusMessages
from bot.texts import Texts
from settings.schema import Settings
from workers import PipelineFactory, WorkerPool, build_pipeline

log = logging.getLogger(__name__)

# A job whose user has another one running is offered again after this long.
BUSY_RETRY_S = 1.0
# arq counts every offer as a try; the bot's own attempts ([telegram] max_attempts) are
# counted in the job's record, so arq's limit only stops a job offered absurdly often.
ARQ_MAX_TRIES = 100_000
# How often a running job's cancel flag is read, and the heartbeat written.
CANCEL_POLL_S = 0.3
HEARTBEAT_S = 2.0
HEARTBEAT_TTL_S = 10
# arq looks for new jobs this often.
POLL_DELAY_S = 0.05
# arq's time limit for a job is the attempt's deadline plus this (the interrupted attempt's
# bookkeeping); its lease is arq's limit + 10 s.
ARQ_MARGIN_S = 5.0
# A follow digest's result waits this long for its front end (which polls it).
FOLLOW_RESULT_KEEP_S = 3600


def arq_timeout_s(settings: Settings) -> float:
    return job_timeout_s(settings) + settings.workers.cancel_grace_s + ARQ_MARGIN_S


class JobHost:
    """Runs one arq job: the attempt's bookkeeping around :class:`DigestRunner`."""

    def __init__(
        self, settings: Settings, queue: RedisJobQueue, runner: DigestRunner, metrics: Metrics
    ) -> None:
        self._settings = settings
        self._queue = queue
        self._runner = runner
        self._metrics = metrics
        self._lease_ms = int((arq_timeout_s(settings) + 10) * 1000)
        self.stopping = False
        self._running: dict[str, CancelFlag] = {}

    async def run(self, job_id: str) -> None:
        tg = self._settings.telegram
        job = await asyncio.to_thread(self._queue.load, job_id)
        if job is None:
            log.warning("job %s has no record (expired?): dropped", job_id)
            return
        verdict = await asyncio.to_thread(
            self._queue.begin_attempt, job, self._lease_ms, tg.max_attempts
        )
        if verdict in (AttemptVerdict.FINISHED, AttemptVerdict.GONE):
            return
        if verdict is AttemptVerdict.BUSY:
            raise Retry(defer=BUSY_RETRY_S)
        if verdict is AttemptVerdict.EXHAUSTED:
            log.error("job %s: interrupted %d times, giving up", job.id, job.attempts)
            await self._give_up(job)
            return
        try:
            outcome = await self._attempt(job)
        except RetryJob as exc:
            await self._retry(job, exc)
            return
        except asyncio.CancelledError:
            # arq's own time limit, or the worker stops: another worker runs it again.
            await asyncio.to_thread(self._queue.requeue, job, uncharge=True)
            raise
        except Exception:
            log.exception("job %s: runner failed", job.id)
            outcome = Outcome.FAILED
        await self._finish(job, outcome)

    async def _attempt(self, job: Job) -> Outcome:
        """One run, within the attempt's deadline: past it (a download or Telegram that hangs,
        a digest process slow to be replaced) the run is interrupted and the attempt fails
        with RetryJob; arq's own time limit, a little later, is never reached."""
        cancel = CancelFlag()
        self._running[job.id] = cancel
        watcher = asyncio.create_task(self._watch_cancel(job.id, cancel))
        run = asyncio.ensure_future(asyncio.to_thread(self._runner, job, cancel))
        try:
            done, _ = await asyncio.wait({run}, timeout=job_timeout_s(self._settings))
            if not done:
                log.warning("job %s: attempt %d ran out of time; interrupted", job.id, job.attempts)
                cancel.interrupt()
                await asyncio.wait({run}, timeout=self._settings.workers.cancel_grace_s + 5)
                if not run.done():
                    raise RetryJob("the attempt ran out of time")
            return run.result()
        finally:
            watcher.cancel()
            self._running.pop(job.id, None)

    def interrupt_all(self) -> None:
        """The worker stops: running attempts end with RetryJob (queued again, not counted)."""
        self.stopping = True
        for cancel in list(self._running.values()):
            cancel.interrupt()

    async def _watch_cancel(self, job_id: str, cancel: CancelFlag) -> None:
        while not cancel.is_set():
            await asyncio.sleep(CANCEL_POLL_S)
            try:
                if await asyncio.to_thread(self._queue.cancel_requested, job_id):
                    cancel.set()
            except Exception as exc:
                log.warning("job %s: cannot read its cancel flag (%s)", job_id, exc)
                await asyncio.sleep(1.0)

    async def _retry(self, job: Job, exc: RetryJob) -> None:
        tg = self._settings.telegram
        if self.stopping:
            await asyncio.to_thread(self._queue.requeue, job, uncharge=True)
            log.info("job %s: interrupted by the stop; queued again", job.id)
            raise Retry(defer=0)
        if job.attempts < tg.max_attempts:
            delay = retry_delay(job.attempts, tg.retry_backoff_s)
            log.warning(
                "job %s: attempt %d failed (%s); again in %.0f s", job.id, job.attempts, exc, delay
            )
            await asyncio.to_thread(self._queue.requeue, job, uncharge=False)
            self._metrics.job_ended(job, Outcome.RETRY, 0.0)
            raise Retry(defer=delay)
        log.error("job %s: giving up after %d attempts (%s)", job.id, job.attempts, exc)
        await self._give_up(job)

    async def _give_up(self, job: Job) -> None:
        """The apology; if Telegram cannot take it now, the job waits and tries again."""
        try:
            await asyncio.to_thread(self._runner.give_up, job)
        except Exception as exc:
            delay = retry_delay(job.attempts, self._settings.telegram.retry_backoff_s)
            log.warning("job %s: could not tell the user (%s); again in %.0f s", job.id, exc, delay)
            await asyncio.to_thread(self._queue.requeue, job, uncharge=False)
            raise Retry(defer=delay) from None
        await self._finish(job, Outcome.GIVEN_UP)

    async def _finish(self, job: Job, outcome: Outcome) -> None:
        await asyncio.to_thread(self._queue.finish, job, outcome)
        self._metrics.job_ended(job, outcome, time.time() - job.created)


async def _digest_job(ctx: dict[str, Any], job_id: str) -> None:
    host: JobHost = ctx["host"]
    await host.run(job_id)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def serve_worker(
    settings: Settings,
    token: str,
    *,
    factory: PipelineFactory = build_pipeline,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (or ``stop`` is set)."""
    # A front end on the same machine gets the cores first: its acknowledgements are what
    # Telegram waits for (the digest processes lower their own priority further).
    with contextlib.suppress(OSError):
        os.nice(settings.workers.nice)
    keys = Keys.of(settings)
    tg, queue_settings = settings.telegram, settings.queue
    client = sync_client(queue_settings)
    queue = RedisJobQueue(client, keys, tg.queue_size)
    store = RedisStore(client, keys, queue_settings.digest_ttl_s)
    texts = Texts.load(settings.paths.prompts_dir)
    metrics = Metrics()
    bot = ExtBot(
        token,
        base_url=tg.base_url,
        base_file_url=tg.base_file_url,
        rate_limiter=RetryingRateLimiter(budget_s=tg.api_retry_s, backoff_s=tg.api_retry_backoff_s),
    )
    await bot.initialize()
    pool = WorkerPool(settings, factory=factory)
    loop = asyncio.get_running_loop()

    async def no_paste(paste: Paste) -> None:  # workers gather no pastes
        raise RuntimeError("a worker gathers no pastes")

    svc = Services(
        settings=settings,
        digester=pool,
        texts=texts,
        store=store,
        limiter=RateLimiter(tg.rate_limit_per_minute),
        job_queue_factory=lambda runner, svc: queue,
        metrics=metrics,
    )
    svc.started = Started(
        jobs=queue,
        gatherer=PasteGatherer(0.0, no_paste),
        delivery=Delivery(bot, store, texts),
        status=StatusMessages(bot, queue),
    )
    host = JobHost(settings, queue, DigestRunner(svc, bot, loop), metrics)
    worker = Worker(
        functions=[
            func(
                _digest_job,
                name=DIGEST_FUNCTION,
                timeout=arq_timeout_s(settings),
                max_tries=ARQ_MAX_TRIES,
            ),
            # A followed source's new item, for the front end that posts it
            # (bot/redis_follow.py): the result is kept until that front end reads it.
            func(
                follow_digest,
                name=FOLLOW_DIGEST_FUNCTION,
                timeout=arq_timeout_s(settings),
                max_tries=FOLLOW_DIGEST_TRIES,
                keep_result=FOLLOW_RESULT_KEEP_S,
            ),
        ],
        queue_name=keys.arq_queue,
        redis_settings=RedisSettings.from_dsn(queue_settings.redis_url),
        handle_signals=False,
        max_jobs=queue_settings.worker_jobs or pool.count,
        poll_delay=POLL_DELAY_S,
        keep_result=0,
        ctx={"host": host, "pool": pool},
        health_check_interval=60,
    )
    stopping = stop or asyncio.Event()
    if stop is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stopping.set)
    name = worker_name()
    beat = asyncio.create_task(_heartbeat(client, keys.worker(name)))
    main = asyncio.create_task(worker.async_run())
    log.info("worker %s takes jobs from %s (%d at once)", name, keys.arq_queue, worker.max_jobs)
    try:
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({main, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if main.done():
            main.result()  # arq stopped by itself: say why
        grace = settings.webhook.shutdown_grace_s
        log.info("stopping: no new jobs; running ones get %.0f s", grace)
        worker.allow_pick_jobs = False
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=grace)
    finally:
        # Jobs still running are interrupted: queued again, the attempt not counted.
        host.interrupt_all()
        await asyncio.to_thread(pool.close)
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=10)
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main
        await worker.close()
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        with contextlib.suppress(Exception):
            await asyncio.to_thread(client.delete, keys.worker(name))
        with contextlib.suppress(Exception):
            await bot.shutdown()
        client.close()
        log.info("worker %s stopped", name)


async def _heartbeat(client: Any, key: str) -> None:
    """The front ends count live workers by these keys (for /readyz and /metrics)."""
    while True:
        try:
            await asyncio.to_thread(client.set, key, str(time.time()), ex=HEARTBEAT_TTL_S)
        except Exception as exc:
            log.warning("cannot write the worker's heartbeat to Redis (%s)", exc)
        await asyncio.sleep(HEARTBEAT_S)
