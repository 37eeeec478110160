"""Build the python-telegram-bot ``Application``, wire the handlers, start and stop it.

Start-up and shutdown are written out (rather than ``Application.run_polling`` or
``run_webhook``) so that the CLI and the end-to-end tests go through the same code:
initialise, start the workers and the paste gatherer, register the command menu, hand on the
updates left from before a restart, then poll (:func:`start`) or serve the webhook
(:func:`start_webhook`); and the reverse (:func:`stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot import handlers
from bot.delivery import Delivery
from bot.durable_queue import DurableJobQueue, QueueDatabase, SqliteUpdateLedger
from bot.fetch_url import AddressCheck
from bot.gather import PasteGatherer
from bot.jobs import InMemoryJobQueue, JobQueue, JobRunner
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter
from bot.runner import DigestRunner
from bot.services import SERVICES_KEY, DigestEngine, JobQueueFactory, Services
from bot.store import Store
from bot.texts import DEFAULT_UI_LANGUAGE, Texts
from bot.updates import LedgerUpdateProcessor, MemoryUpdateLedger, UpdateLedger
from bot.webhook import Readiness, WebhookServer
from settings.schema import SUPPORTED_LANGUAGES, Settings
from workers import Digester, InlineDigester, WorkerPool

log = logging.getLogger(__name__)

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
# Long-polling wait per getUpdates call (Telegram holds the request until updates arrive).
POLL_TIMEOUT_S = 30
# Running jobs get this long to finish when the bot stops.
STOP_GRACE_S = 30.0
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


class TokenError(ValueError):
    """The bot token is missing or malformed (the message never contains the token)."""


def token_from_env(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise TokenError(f"{TOKEN_ENV} is not set (get a token from @BotFather)")
    if not TOKEN_PATTERN.match(token):
        raise TokenError(
            f"{TOKEN_ENV} is malformed (expected <digits>:<at least 30 letters, digits, _ or ->)"
        )
    return token


class RedactToken(logging.Filter):
    """Replaces secrets in every log record: PTB and httpx put the token in URLs and messages,
    and PTB's DEBUG log shows setWebhook's parameters (the webhook secret among them)."""

    def __init__(self, token: str, *others: str) -> None:
        super().__init__()
        self._secrets = [(token, "<token>")] + [(s, "<secret>") for s in others if s]

    def _clean(self, text: str) -> str:
        for secret, mask in self._secrets:
            text = text.replace(secret, mask)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def protect_logs(token: str, *secrets: str) -> None:
    """Keep the token (and the webhook secret) out of the logs, whatever the level."""
    # httpx logs every request URL (which contains the token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact = RedactToken(token, *secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


def default_job_queue(runner: JobRunner, svc: Services) -> JobQueue:
    """The durable queue on queue.sqlite3, or the in-memory one (``job_queue = "memory"``)."""
    tg = svc.settings.telegram
    if svc.queue_db is None:
        return InMemoryJobQueue(
            runner,
            workers=tg.workers,
            max_waiting=tg.queue_size,
            max_attempts=tg.max_attempts,
            retry_backoff_s=tg.retry_backoff_s,
            on_give_up=runner.give_up,
            observer=svc.metrics.job_ended,
        )
    return DurableJobQueue(
        svc.queue_db,
        runner,
        workers=tg.workers,
        max_waiting=tg.queue_size,
        max_attempts=tg.max_attempts,
        retry_backoff_s=tg.retry_backoff_s,
        on_give_up=runner.give_up,
        observer=svc.metrics.job_ended,
    )


def build_application(
    settings: Settings,
    token: str,
    *,
    engine: DigestEngine | None = None,
    digester: Digester | None = None,
    job_queue_factory: JobQueueFactory = default_job_queue,
    address_check: AddressCheck | None = None,
) -> Application:  # type: ignore[type-arg]
    """The Application with every handler wired; digests are made by ``digester``, by default
    a pool of worker processes ([workers]) or, given ``engine``, in the bot's job threads."""
    # The Application's HTTP client (httpx) logs every request URL, token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = Texts.load(settings.paths.prompts_dir)
    tg = settings.telegram
    metrics = Metrics()
    queue_db: QueueDatabase | None = None
    ledger: UpdateLedger
    if tg.job_queue == "sqlite":
        queue_db = QueueDatabase(settings.storage.dir)
        ledger = SqliteUpdateLedger(queue_db, max_attempts=tg.max_attempts)
    else:
        ledger = MemoryUpdateLedger()
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        # Handlers only queue work and talk to Telegram; running them concurrently keeps one
        # slow download or edit from holding up everyone else. The processor also keeps
        # each update from being handled twice (bot/updates.py).
        .concurrent_updates(LedgerUpdateProcessor(ledger, metrics.update_received))
        .build()
    )
    store = Store(settings.storage.dir)
    if digester is None:
        # Worker processes, started once the stores are known to work; an injected engine
        # (tests) runs in the job threads instead.
        digester = (
            WorkerPool(settings) if engine is None else InlineDigester(engine, settings.ingest)
        )
    services = Services(
        settings=settings,
        digester=digester,
        texts=texts,
        store=store,
        limiter=RateLimiter(tg.rate_limit_per_minute),
        job_queue_factory=job_queue_factory,
        address_check=address_check,
        ledger=ledger,
        metrics=metrics,
        queue_db=queue_db,
    )
    app.bot_data[SERVICES_KEY] = services
    handlers.register(app)
    return app


async def _start_bot(app: Application) -> Services:  # type: ignore[type-arg]
    """What both modes share: initialise (getMe), workers, gatherer, command menu, and the
    updates received but not handled before the last stop or crash."""
    try:
        await app.initialize()
    except InvalidToken:
        # PTB's own message quotes the token; ours does not.
        raise TokenError("Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)") from None
    svc: Services = app.bot_data[SERVICES_KEY]
    loop = asyncio.get_running_loop()
    runner = DigestRunner(svc, app.bot, loop, svc.address_check)
    svc.delivery = Delivery(app.bot, svc.store, svc.texts)
    svc.gatherer = PasteGatherer(
        svc.settings.telegram.paste_gather_seconds,
        lambda paste: handlers.flush_paste(svc, paste),
    )
    svc.jobs = svc.job_queue_factory(runner, svc)
    svc.metrics.queue_snapshot = svc.jobs.snapshot
    svc.jobs.start()
    await set_commands(app, svc.texts)
    await app.start()
    await _replay(app, svc)
    if svc.queue_db is not None:
        app.bot_data[_MAINTENANCE_KEY] = asyncio.create_task(_maintain(svc.queue_db))
    return svc


async def start(
    app: Application,  # type: ignore[type-arg]
    *,
    poll_timeout: int = POLL_TIMEOUT_S,
    poll_interval: float = 0.0,
) -> None:
    """Start the bot with long polling."""
    await _start_bot(app)
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=poll_interval,
        timeout=poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("bot @%s is polling", app.bot.username)


async def start_webhook(app: Application, secret: str) -> int:  # type: ignore[type-arg]
    """Start the bot, serve the webhook, register it with Telegram; returns the port."""
    svc = await _start_bot(app)
    wh = svc.settings.webhook
    if not wh.public_url:
        raise ValueError("webhook.public_url is not set (the HTTPS URL Telegram posts to)")
    server = WebhookServer(
        app,
        ledger=svc.ledger,
        metrics=svc.metrics,
        secret=secret,
        path=wh.path,
        max_body_bytes=wh.max_body_bytes,
        readiness=lambda: readiness(app),
    )
    svc.webhook = server
    # Listening before Telegram is told, so that its first delivery finds us.
    port = await server.start(wh.listen, wh.port)
    try:
        await app.bot.set_webhook(
            url=wh.public_url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=wh.max_connections,
            drop_pending_updates=False,
        )
    except TelegramError as exc:
        raise WebhookRegistrationError(f"setWebhook failed: {exc.message}") from None
    server.registered = True
    log.info("bot @%s receives updates at %s", app.bot.username, wh.public_url)
    return port


class WebhookRegistrationError(ValueError):
    """Telegram refused the webhook URL."""


def readiness(app: Application) -> Readiness:  # type: ignore[type-arg]
    """/readyz: initialised and running, webhook registered, workers alive (threads and the
    digest processes), queue moving."""
    svc: Services = app.bot_data[SERVICES_KEY]
    reasons = []
    if not app.running:
        reasons.append("the bot is not running")
    if svc.webhook is not None and not svc.webhook.registered:
        reasons.append("the webhook is not registered yet")
    if svc.webhook is not None and not svc.webhook.accepting:
        reasons.append("the webhook server is stopping")
    if svc.digester.broken:
        reasons.append(svc.digester.broken)
    snap = svc.jobs.snapshot()
    if snap.workers_alive < snap.workers:
        reasons.append(f"only {snap.workers_alive} of {snap.workers} workers alive")
    idle_for = time.monotonic() - snap.last_progress
    if snap.queued and idle_for > svc.settings.webhook.stuck_after_s:
        reasons.append(
            f"the job queue is stuck: {snap.queued} waiting, no job started or ended "
            f"for {idle_for:.0f} s"
        )
    return Readiness(not reasons, tuple(reasons))


async def _replay(app: Application, svc: Services) -> None:  # type: ignore[type-arg]
    """Hand on the updates stored or begun before the last stop or crash, oldest first."""
    pending = await svc.ledger.unfinished()
    for update_id, payload in pending:
        try:
            update = Update.de_json(json.loads(payload), app.bot)
        except Exception:
            log.exception("stored update %s cannot be read: skipped", update_id)
            continue
        await app.update_queue.put(update)
    if pending:
        log.info("%d update(s) received before the restart are handled now", len(pending))


_MAINTENANCE_KEY = "maintenance"
PRUNE_EVERY_S = 3600.0


async def _maintain(db: QueueDatabase) -> None:
    """Forget old finished updates and jobs, now and every hour."""
    while True:
        try:
            await asyncio.to_thread(db.prune)
        except Exception:
            log.exception("pruning the job queue failed")
        await asyncio.sleep(PRUNE_EVERY_S)


async def stop(app: Application, grace: float = STOP_GRACE_S) -> None:  # type: ignore[type-arg]
    """Stop taking updates, handle those already taken, let running jobs finish (up to
    ``grace`` s); queued jobs and unhandled updates stay stored for the next start."""
    svc: Services = app.bot_data[SERVICES_KEY]
    if svc.webhook is not None:
        await svc.webhook.stop()
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if hasattr(svc, "gatherer"):
        await svc.gatherer.close()
    if hasattr(svc, "jobs"):
        # In a thread: workers hand their results to this loop, which must keep running.
        await asyncio.to_thread(svc.jobs.stop, grace)
    await asyncio.to_thread(svc.digester.close)
    maintenance = app.bot_data.pop(_MAINTENANCE_KEY, None)
    if maintenance is not None:
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance
    await app.shutdown()
    svc.store.close()
    if svc.queue_db is not None:
        svc.queue_db.close()


async def set_commands(app: Application, texts: Texts) -> None:  # type: ignore[type-arg]
    """The command menu, per language (the default one in English)."""
    for lang in SUPPORTED_LANGUAGES:
        commands = [BotCommand(name, text) for name, text in texts.commands(lang)]
        try:
            await app.bot.set_my_commands(
                commands, language_code=None if lang == DEFAULT_UI_LANGUAGE else lang
            )
        except TelegramError as exc:
            # A missing menu is cosmetic; the bot works without it.
            log.warning("could not set the %s command menu: %s", lang, exc)


def run_polling(app: Application, grace: float = STOP_GRACE_S) -> None:  # type: ignore[type-arg]
    """Run with long polling until SIGINT or SIGTERM."""
    _run(app, lambda: start(app), grace)


def run_webhook(
    app: Application,  # type: ignore[type-arg]
    secret: str,
    grace: float = STOP_GRACE_S,
) -> None:
    """Serve the webhook until SIGINT or SIGTERM."""
    _run(app, lambda: start_webhook(app, secret), grace)


def _run(
    app: Application,  # type: ignore[type-arg]
    starter: Callable[[], Awaitable[object]],
    grace: float,
) -> None:
    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stopping.set)
        try:
            await starter()
            await stopping.wait()
            log.info("stopping")
        finally:
            await stop(app, grace)

    asyncio.run(serve())
