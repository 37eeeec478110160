"""Followed sources in ``[queue] backend = "redis"``: their store, and digests made by workers.

The front end that holds a source's delivery lease (``sources/redis_store.py``) posts its
items as the one-machine bot does (``bot/follow_poster.py``), but makes no digest itself: it
enqueues the item's :class:`DigestRequest` as an arq job (``follow_digest``) that a
``briefing-digest worker`` runs in its digest pool, and waits for the result. The outbox entry
stays until the post is made, so a front end or worker that dies meanwhile loses nothing: the
entry is delivered again (by this front end, or another once the lease runs out).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

from bot.redis_keys import Keys, job_timeout_s, sync_client
from digest.errors import DigestError
from digest.pipeline import ProgressCallback
from settings.schema import Settings
from sources.redis_store import RedisSourceStore
from workers import DigestRequest, DigestResult

# The arq function the workers register for followed items.
FOLLOW_DIGEST_FUNCTION = "follow_digest"
# arq tries a follow digest this often (a worker killed mid-job) before the front end is told;
# the outbox entry stays, so the item is tried again at a later round.
FOLLOW_DIGEST_TRIES = 3


def open_redis_source_store(settings: Settings, owner: str) -> RedisSourceStore:
    """The store on the bot's Redis, with a client of its own (closed with the store)."""
    return RedisSourceStore(
        sync_client(settings.queue),
        Keys.of(settings).prefix,
        owner,
        settings.sources.delivery_lease_s,
    )


class WorkerDigests:
    """A ``Digester`` for the follow poster of a Redis front end: each request is an arq job
    run by the workers. ``submit`` is called from threads; the job is enqueued and awaited on
    the front end's loop (:meth:`start`)."""

    broken: str | None = None

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Every try a worker may take on it, and time to wait for a free worker.
        self._timeout = FOLLOW_DIGEST_TRIES * (job_timeout_s(settings) + 60.0)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ArqRedis | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def submit(
        self,
        request: DigestRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[DigestResult]:
        if self._loop is None:
            raise RuntimeError("WorkerDigests.start was not called")
        return asyncio.run_coroutine_threadsafe(self._run(request), self._loop)

    async def _run(self, request: DigestRequest) -> DigestResult:
        if self._pool is None:
            self._pool = await create_pool(
                RedisSettings.from_dsn(self._settings.queue.redis_url),
                default_queue_name=Keys.of(self._settings).arq_queue,
            )
        job = await self._pool.enqueue_job(FOLLOW_DIGEST_FUNCTION, request)
        if job is None:  # arq: a job with this id exists (never: ids are random)
            raise RuntimeError("the follow digest job was not enqueued")
        result: DigestResult = await job.result(timeout=self._timeout, poll_delay=0.1)
        return result

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def close(self) -> None:
        pass


async def follow_digest(ctx: dict[str, Any], request: DigestRequest) -> DigestResult:
    """The worker's side: the request digested in its pool, the result handed back."""
    pool = ctx["pool"]
    try:
        return await asyncio.to_thread(lambda: pool.submit(request).result())
    except DigestError as exc:
        # Sent back pickled: as a plain DigestError with the same one-line message (some
        # subclasses, such as LimitExceededError, cannot be rebuilt from their args), so that
        # the front end tells the followers rather than retrying the item every round.
        raise DigestError(str(exc)) from None
