"""What the handlers work with, gathered in one object kept in ``Application.bot_data``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from telegram.ext import Application

from bot.fetch_url import AddressCheck
from bot.gather import Gatherer
from bot.jobs import JobQueue, JobRunner
from bot.metrics import Metrics
from bot.ratelimit import UserRateLimit
from bot.stores import StateStore
from bot.texts import Texts
from bot.updates import MemoryUpdateLedger, UpdateLedger
from digest.model import Digest, Document
from digest.pipeline import ProgressCallback
from digest.resources import Resources
from settings.schema import Settings
from workers import Digester

if TYPE_CHECKING:
    from bot.delivery import Delivery
    from bot.durable_queue import QueueDatabase
    from bot.status_messages import StatusMessages
    from bot.webhook import WebhookServer

SERVICES_KEY = "services"
# The bot's Application; its six type parameters (bot, context, user/chat/bot data, job
# queue) are PTB's defaults, which this project does not narrow.
BotApp: TypeAlias = Application[Any, Any, Any, Any, Any, Any]


class DigestEngine(Protocol):
    """The part of :class:`digest.pipeline.Pipeline` the bot uses."""

    resources: Resources

    def run(
        self,
        doc: Document,
        languages: Sequence[str] | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Digest]: ...


# Builds the job queue once the runner exists (the runner needs the running event loop).
JobQueueFactory = Callable[[JobRunner, "Services"], JobQueue]


class NotStartedError(RuntimeError):
    """A part that exists only while the bot runs was asked for before the start."""


@dataclass(frozen=True, slots=True)
class Started:
    """What exists only once the bot runs: it needs the running loop and the initialised bot."""

    jobs: JobQueue
    gatherer: Gatherer
    delivery: Delivery
    status: StatusMessages


@dataclass
class Services:
    settings: Settings
    # Ingest, pipeline and rendering: the worker pool (an InlineDigester for injected engines).
    digester: Digester
    texts: Texts
    store: StateStore
    limiter: UserRateLimit
    job_queue_factory: JobQueueFactory
    # Which resolved addresses transcript links may reach; None: public ones only.
    address_check: AddressCheck | None = None
    # Updates seen (each handled once) and the counters behind /metrics.
    ledger: UpdateLedger = field(default_factory=MemoryUpdateLedger)
    metrics: Metrics = field(default_factory=Metrics)
    # queue.sqlite3, or its in-memory twin (jobs and ledger share it).
    queue_db: QueueDatabase | None = None
    # Set when the bot starts; None before and while it starts.
    started: Started | None = None
    webhook: WebhookServer | None = None

    def _running(self) -> Started:
        if self.started is None:
            raise NotStartedError("the bot has not started yet")
        return self.started

    @property
    def jobs(self) -> JobQueue:
        return self._running().jobs

    @property
    def gatherer(self) -> Gatherer:
        return self._running().gatherer

    @property
    def delivery(self) -> Delivery:
        return self._running().delivery

    @property
    def status(self) -> StatusMessages:
        return self._running().status
