"""Redis for the ``[queue] backend = "redis"`` mode: clients, key names and the job lease.

Every key the bot writes is ``<key_prefix>:...`` (:class:`Keys`), so that two bots can share
one Redis. The job library is arq (docs/deploy.md says why): its queue is
``<key_prefix>:arq:queue``; its per-job keys (``arq:job:<id>``, ``arq:in-progress:<id>``,
``arq:retry:<id>``) are arq's own and need no prefix, since job ids are 128 random bits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

from settings.schema import QueueSettings, Settings

log = logging.getLogger(__name__)

# A Redis call that takes longer than this fails (and is retried or reported by its caller).
SOCKET_TIMEOUT_S = 10.0
# The arq function that makes a digest (the workers register it under this name).
DIGEST_FUNCTION = "digest"


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sync_client(queue: QueueSettings) -> redis.Redis:
    """A thread-safe client (a connection pool): for the job threads and the stores."""
    return redis.Redis.from_url(
        queue.redis_url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )


def async_client(queue: QueueSettings) -> aioredis.Redis:
    """A client for the event loop it is first used on (the update ledger, the gatherer)."""
    return aioredis.Redis.from_url(
        queue.redis_url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )


class RedisUnavailableError(ConnectionError):
    """Redis cannot be reached at start (one line, the URL without its password)."""


def check_reachable(queue: QueueSettings) -> None:
    """PING once; raises RedisUnavailableError with a one-line reason."""
    client = sync_client(queue)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RedisUnavailableError(
            f"cannot reach Redis at {redacted(queue.redis_url)} ([queue] redis_url): {exc}"
        ) from None
    finally:
        client.close()


def job_timeout_s(settings: Settings) -> float:
    """The longest one attempt may take in a Redis worker: the digest's own limit, plus the
    download and the delivery. arq cancels the attempt past it; its lease is this + 10 s."""
    return settings.workers.job_timeout_s + settings.queue.job_slack_s


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        return cls(settings.queue.key_prefix)

    def _k(self, *parts: object) -> str:
        return ":".join((self.prefix, *(str(p) for p in parts)))

    # -- arq ---------------------------------------------------------------------------------
    @property
    def arq_queue(self) -> str:
        return self._k("arq", "queue")

    # -- updates -----------------------------------------------------------------------------
    def update(self, update_id: int) -> str:
        """Hash: payload, state (new/done), attempts."""
        return self._k("update", update_id)

    def update_claim(self, update_id: int) -> str:
        """Which front end handles the update now (expires: a dead front end lets go)."""
        return self._k("update", update_id, "claim")

    def update_job(self, update_id: int) -> str:
        """The job an update became (the de-duplication of jobs)."""
        return self._k("update", update_id, "job")

    @property
    def updates_new(self) -> str:
        """Sorted set of updates not done yet, by time received."""
        return self._k("updates", "new")

    # -- jobs --------------------------------------------------------------------------------
    def job(self, job_id: str) -> str:
        """Hash: payload, user_id, state, attempts, seq, status_message_id, delivery, cancel."""
        return self._k("job", job_id)

    @property
    def jobs_queued(self) -> str:
        """Sorted set of waiting job ids by their sequence number (the order of arrival)."""
        return self._k("jobs", "queued")

    @property
    def jobs_running(self) -> str:
        return self._k("jobs", "running")

    @property
    def job_seq(self) -> str:
        return self._k("jobs", "seq")

    def user_queued(self, user_id: int) -> str:
        return self._k("user", user_id, "queued")

    def user_running(self, user_id: int) -> str:
        """The user's running job (one at a time); expires with the job's lease."""
        return self._k("user", user_id, "running")

    def worker(self, name: str) -> str:
        """A worker's heartbeat (expires when it stops beating)."""
        return self._k("worker", name)

    @property
    def workers_pattern(self) -> str:
        return self._k("worker", "*")

    # -- state ---------------------------------------------------------------------------------
    def chat_languages(self, chat_id: int) -> str:
        return self._k("chat", chat_id, "languages")

    def digest(self, digest_id: str) -> str:
        return self._k("digest", digest_id)

    def view(self, view_id: str) -> str:
        return self._k("view", view_id)

    def rate(self, user_id: int) -> str:
        return self._k("rate", user_id)

    def paste(self, chat_id: int, user_id: int) -> str:
        """List of the parts gathered (JSON)."""
        return self._k("paste", chat_id, user_id)

    @property
    def pastes(self) -> str:
        """Sorted set: paste key -> the time it is complete (its user quiet long enough)."""
        return self._k("pastes")
