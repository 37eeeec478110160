"""The front end's parts for ``[queue] backend = "redis"``: state shared with other front ends
and with the ``briefing-digest worker`` processes, and no digest work of its own.

:func:`redis_front_end` builds them once; ``bot/app.py`` hands them to the same handlers,
webhook and update processor as the SQLite ones.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass

import redis
from telegram import Bot

from bot.gather import Flush
from bot.jobs import JobQueue, JobRunner
from bot.redis_gather import RedisPasteGatherer
from bot.redis_keys import Keys, async_client, sync_client
from bot.redis_ledger import RedisUpdateLedger
from bot.redis_queue import RedisJobQueue
from bot.redis_ratelimit import RedisRateLimiter
from bot.redis_store import RedisStore
from digest.pipeline import ProgressCallback
from settings.schema import Settings
from workers import DigestRequest, DigestResult

log = logging.getLogger(__name__)


class RemoteDigests:
    """The front end's ``Digester`` in Redis mode: digests are made by the workers."""

    broken: str | None = None

    def submit(
        self,
        request: DigestRequest,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Future[DigestResult]:
        raise RuntimeError("a Redis front end makes no digests: `briefing-digest worker` does")

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class RedisFrontEnd:
    settings: Settings
    keys: Keys
    client: redis.Redis
    queue: RedisJobQueue
    ledger: RedisUpdateLedger
    store: RedisStore
    limiter: RedisRateLimiter

    def job_queue_factory(self, runner: JobRunner, svc: object) -> JobQueue:
        """The queue exists already; the front end's runner is never called."""
        return self.queue

    def gatherer(self, flush: Flush, bot: Bot) -> RedisPasteGatherer:
        gatherer = RedisPasteGatherer(
            async_client(self.settings.queue),
            self.keys,
            self.settings.telegram.paste_gather_seconds,
            flush,
            bot,
        )
        gatherer.start()
        return gatherer

    def write_error(self) -> str | None:
        return self.queue.write_error

    async def close(self) -> None:
        await self.ledger.aclose()
        await asyncio.to_thread(self.client.close)


def redis_front_end(settings: Settings) -> RedisFrontEnd:
    keys = Keys.of(settings)
    client = sync_client(settings.queue)
    tg = settings.telegram
    return RedisFrontEnd(
        settings=settings,
        keys=keys,
        client=client,
        queue=RedisJobQueue(client, keys, tg.queue_size),
        ledger=RedisUpdateLedger(async_client(settings.queue), keys, tg.max_attempts),
        store=RedisStore(client, keys, settings.queue.digest_ttl_s),
        limiter=RedisRateLimiter(async_client(settings.queue), keys, tg.rate_limit_per_minute),
    )
