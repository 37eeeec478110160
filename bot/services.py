"""What the handlers work with, gathered in one object kept in ``Application.bot_data``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bot.fetch_url import AddressCheck
from bot.gather import PasteGatherer
from bot.jobs import JobQueue, JobRunner
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter
from bot.store import Store
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
    from bot.webhook import WebhookServer

SERVICES_KEY = "services"


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


@dataclass
class Services:
    settings: Settings
    # Ingest, pipeline and rendering: the worker pool (an InlineDigester for injected engines).
    digester: Digester
    texts: Texts
    store: Store
    limiter: RateLimiter
    job_queue_factory: JobQueueFactory
    # Which resolved addresses transcript links may reach; None: public ones only.
    address_check: AddressCheck | None = None
    # Updates seen (each handled once) and the counters behind /metrics.
    ledger: UpdateLedger = field(default_factory=MemoryUpdateLedger)
    metrics: Metrics = field(default_factory=Metrics)
    # queue.sqlite3 when [telegram] job_queue = "sqlite" (jobs and ledger share it).
    queue_db: QueueDatabase | None = None
    # Set when the bot starts: they need the running loop and the initialised bot.
    jobs: JobQueue = field(init=False)
    gatherer: PasteGatherer = field(init=False)
    delivery: Delivery = field(init=False)
    webhook: WebhookServer | None = field(default=None, init=False)
