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
from typing import TYPE_CHECKING

from prometheus_client import start_http_server
from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import ApplicationBuilder

from bot import follow_commands, follow_service, handlers
from bot.api_retry import MAX_PAUSE_S, RetryingRateLimiter, is_transient
from bot.delivery import Delivery
from bot.durable_queue import DurableJobQueue, QueueDatabase, SqliteUpdateLedger
from bot.fetch_url import AddressCheck
from bot.follow_store import open_source_store
from bot.gather import Paste, PasteGatherer
from bot.jobs import JobQueue, JobRunner
from bot.log_throttle import throttle_repeats
from bot.metrics import Metrics
from bot.ratelimit import RateLimiter, UserRateLimit
from bot.runner import DigestRunner
from bot.services import SERVICES_KEY, BotApp, DigestEngine, JobQueueFactory, Services, Started
from bot.sqlite_db import check_space
from bot.status_messages import StatusMessages
from bot.store import DB_NAME, Store
from bot.stores import StateStore
from bot.texts import DEFAULT_UI_LANGUAGE, Texts
from bot.updates import LedgerUpdateProcessor, UpdateLedger
from bot.webhook import Readiness, WebhookServer
from settings.schema import SUPPORTED_LANGUAGES, Settings
from sources.safe_fetch import address_check as fetch_address_check
from sources.store import SourceStore
from workers import Digester, InlineDigester, WorkerPool

if TYPE_CHECKING:
    from bot.redis_frontend import RedisFrontEnd

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


class BotApiError(ValueError):
    """The Bot API could not be reached at start, or answered getMe with nonsense."""


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
    """Keep the token (and the webhook secret) out of the logs, whatever the level, and a
    flood of one error (``Too many open files``) from filling the disk."""
    # httpx logs every request URL (which contains the token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact = RedactToken(token, *secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    throttle_repeats()


def default_job_queue(runner: JobRunner, svc: Services) -> JobQueue:
    """The queue on queue.sqlite3 (or on its in-memory twin with ``job_queue = "memory"``)."""
    tg = svc.settings.telegram
    assert svc.queue_db is not None
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
) -> BotApp:
    """The Application with every handler wired; digests are made by ``digester``, by default
    a pool of worker processes ([workers]) or, given ``engine``, in the bot's job threads."""
    # The Application's HTTP client (httpx) logs every request URL, token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = Texts.load(settings.paths.prompts_dir)
    tg = settings.telegram
    if address_check is None and settings.fetch.allow_private_networks:
        address_check = fetch_address_check(True)
    metrics = Metrics()
    redis_parts: RedisFrontEnd | None = None
    queue_db: QueueDatabase | None = None
    store: StateStore
    ledger: UpdateLedger
    limiter: UserRateLimit
    if settings.queue.backend == "redis":
        # Shared with the other front ends and the workers; digests are made by the workers.
        # Imported here: redis and arq are the [redis] extra.
        from bot.redis_frontend import RemoteDigests, redis_front_end

        redis_parts = redis_front_end(settings)
        store, ledger, limiter = redis_parts.store, redis_parts.ledger, redis_parts.limiter
        job_queue_factory = redis_parts.job_queue_factory
        digester = RemoteDigests()
    else:
        store = Store(settings.storage.dir)
        queue_db = QueueDatabase(settings.storage.dir if tg.job_queue == "sqlite" else None)
        ledger = SqliteUpdateLedger(queue_db, max_attempts=tg.max_attempts)
        limiter = RateLimiter(tg.rate_limit_per_minute)
    processor = LedgerUpdateProcessor(ledger, metrics.update_received)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        # Handlers only queue work and talk to Telegram; running them concurrently keeps one
        # slow download or edit from holding up everyone else. The processor also keeps
        # each update from being handled twice (bot/updates.py).
        .concurrent_updates(processor)
        # Telegram's flood limits, and retries of failed calls (bot/api_retry.py).
        .rate_limiter(
            RetryingRateLimiter(budget_s=tg.api_retry_s, backoff_s=tg.api_retry_backoff_s)
        )
        .build()
    )
    # An update that could neither become a job nor be answered is handled again later.
    processor.requeue = app.update_queue.put
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
        limiter=limiter,
        job_queue_factory=job_queue_factory,
        address_check=address_check,
        ledger=ledger,
        metrics=metrics,
        queue_db=queue_db,
    )
    app.bot_data[SERVICES_KEY] = services
    source_store: SourceStore
    follow_digester: Digester | None = None
    follow_owner = follow_service.owner_name()
    if redis_parts is not None:
        app.bot_data[_REDIS_KEY] = redis_parts
        # Followed sources in Redis, shared by the front ends; their items digested by the
        # workers (docs/sources.md).
        from bot.redis_follow import WorkerDigests, open_redis_source_store

        source_store = open_redis_source_store(settings, follow_owner)
        follow_digester = WorkerDigests(settings)
    else:
        source_store = open_source_store(settings.storage.dir / DB_NAME)
    follow_service.attach(
        app, settings, address_check, source_store, follow_owner, follow_digester
    )
    # Before the general handlers: the unfollow buttons' callback must win over theirs.
    follow_commands.register(app)
    handlers.register(app)
    return app


async def initialise(app: BotApp, retry_for_s: float) -> None:
    """``app.initialize()`` (getMe), tried again with growing pauses while the Bot API cannot
    be reached, one log line each time, for up to ``retry_for_s`` seconds."""
    deadline = time.monotonic() + retry_for_s
    pause = 1.0
    while True:
        try:
            await app.initialize()
            return
        except InvalidToken:
            # PTB's own message quotes the token; ours does not.
            raise TokenError(
                "Telegram rejected the bot token (check TELEGRAM_BOT_TOKEN)"
            ) from None
        except TelegramError as exc:
            if not is_transient(exc):
                raise BotApiError(f"the Bot API refused getMe: {exc.message}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise BotApiError(
                    f"cannot reach the Bot API at {app.bot.base_url.split('/bot')[0]} "
                    f"after {retry_for_s:.0f} s: {exc.message}"
                ) from None
            wait = min(pause, left)
            log.warning("cannot reach the Bot API (%s); trying again in %.0f s", exc, wait)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            # getMe answered, but not with a bot user (a wrong base_url, a proxy's page...).
            raise BotApiError(
                f"the Bot API's getMe answer is not a bot user ({type(exc).__name__}); "
                "check [telegram] base_url"
            ) from None
        await asyncio.sleep(wait)
        pause = min(pause * 2, MAX_PAUSE_S)


async def _start_bot(app: BotApp) -> Services:
    """What both modes share: initialise (getMe), workers, gatherer, command menu, and the
    updates received but not handled before the last stop or crash."""
    svc: Services = app.bot_data[SERVICES_KEY]
    await initialise(app, svc.settings.telegram.startup_retry_s)
    loop = asyncio.get_running_loop()
    runner = DigestRunner(svc, app.bot, loop, svc.address_check)
    jobs = svc.job_queue_factory(runner, svc)
    redis_parts: RedisFrontEnd | None = app.bot_data.get(_REDIS_KEY)

    async def flush(paste: Paste) -> None:
        await handlers.flush_paste(svc, paste)

    svc.started = Started(
        jobs=jobs,
        gatherer=(
            PasteGatherer(svc.settings.telegram.paste_gather_seconds, flush)
            if redis_parts is None
            else redis_parts.gatherer(flush, app.bot)
        ),
        delivery=Delivery(app.bot, svc.store, svc.texts),
        status=StatusMessages(app.bot, jobs),
    )
    svc.metrics.queue_snapshot = jobs.snapshot
    jobs.start()
    await set_commands(app, svc.texts)
    await app.start()
    await _replay(app, svc)
    if follow_service.FOLLOW_KEY in app.bot_data:
        await follow_service.start(app, svc)
    if svc.queue_db is not None:
        app.bot_data[_MAINTENANCE_KEY] = asyncio.create_task(_maintain(svc.queue_db))
    if redis_parts is not None:
        app.bot_data[_MAINTENANCE_KEY] = asyncio.create_task(_replay_orphans(app, svc))
    return svc


async def start(
    app: BotApp,
    *,
    poll_timeout: int = POLL_TIMEOUT_S,
    poll_interval: float = 0.0,
) -> None:
    """Start the bot with long polling."""
    await _start_bot(app)
    assert app.updater is not None
    serve_metrics(app)
    await app.updater.start_polling(
        poll_interval=poll_interval,
        timeout=poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("bot @%s is polling", app.bot.username)


_METRICS_SERVER_KEY = "metrics_server"


def serve_metrics(app: BotApp) -> None:
    """Polling mode: /metrics on [metrics] listen:port (off with port 0), in a thread of its
    own (prometheus_client's server)."""
    svc: Services = app.bot_data[SERVICES_KEY]
    conf = svc.settings.metrics
    if not conf.port:
        return
    server, _ = start_http_server(conf.port, conf.listen, registry=svc.metrics.registry)
    app.bot_data[_METRICS_SERVER_KEY] = server
    log.info("metrics at http://%s:%d/metrics", conf.listen, server.server_port)


async def start_webhook(app: BotApp, secret: str) -> int:
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
        header_timeout_s=wh.header_timeout_s,
        body_timeout_s=wh.body_timeout_s,
        max_open_connections=wh.max_open_connections,
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


def readiness(app: BotApp) -> Readiness:
    """/readyz: initialised and running, webhook registered, workers alive (threads and the
    digest processes), queue moving, stores writable with enough free space."""
    svc: Services = app.bot_data[SERVICES_KEY]
    reasons = storage_problems(svc)
    redis_parts: RedisFrontEnd | None = app.bot_data.get(_REDIS_KEY)
    if redis_parts is not None and (error := redis_parts.write_error()):
        reasons.append(f"cannot use {error}")
    if not app.running:
        reasons.append("the bot is not running")
    if svc.webhook is not None and not svc.webhook.registered:
        reasons.append("the webhook is not registered yet")
    if svc.webhook is not None and not svc.webhook.accepting:
        reasons.append("the webhook server is stopping")
    if svc.digester.broken:
        reasons.append(svc.digester.broken)
    if svc.started is None:
        return Readiness(False, (*reasons, "the bot is starting"))
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


def storage_problems(svc: Services) -> list[str]:
    """Why the stores cannot take writes now: a failed last write, little free space."""
    problems = [
        f"cannot write {error}"
        for error in (svc.store.write_error, svc.queue_db.write_error if svc.queue_db else None)
        if error
    ]
    if svc.settings.queue.backend == "redis":
        # Nothing is kept on this machine's disk.
        return problems
    space = check_space(svc.settings.storage.dir, svc.settings.storage.min_free_bytes)
    if not space.ok:
        problems.append(space.reason)
    return problems


async def _replay(app: BotApp, svc: Services) -> None:
    """Hand on the updates stored or begun before the last stop or crash, oldest first."""
    await _hand_on(app, await svc.ledger.unfinished())


async def _replay_orphans(app: BotApp, svc: Services) -> None:
    """Redis mode: hand on, every few seconds, the updates another front end stored or began
    and left (it stopped or died); each is taken by one front end."""
    while True:
        await asyncio.sleep(REPLAY_EVERY_S)
        try:
            await _hand_on(app, await svc.ledger.unfinished())
        except Exception as exc:
            log.warning("cannot look for updates left by other front ends (%s)", exc)


async def _hand_on(app: BotApp, pending: list[tuple[int, str]]) -> None:
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
_REDIS_KEY = "redis"
# Redis mode: updates a stopped or dead front end left are looked for this often.
REPLAY_EVERY_S = 5.0
PRUNE_EVERY_S = 3600.0


async def _maintain(db: QueueDatabase) -> None:
    """Forget old finished updates and jobs, now and every hour."""
    while True:
        try:
            await asyncio.to_thread(db.prune)
        except Exception:
            log.exception("pruning the job queue failed")
        await asyncio.sleep(PRUNE_EVERY_S)


async def stop(app: BotApp, grace: float = STOP_GRACE_S) -> None:
    """Stop taking updates, handle those already taken, let running jobs finish (up to
    ``grace`` s); queued jobs and unhandled updates stay stored for the next start."""
    svc: Services = app.bot_data[SERVICES_KEY]
    if svc.webhook is not None:
        await svc.webhook.stop()
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    metrics_server = app.bot_data.pop(_METRICS_SERVER_KEY, None)
    if metrics_server is not None:
        await asyncio.to_thread(metrics_server.shutdown)
        metrics_server.server_close()
    if app.running:
        await app.stop()
    await follow_service.stop(app)
    if svc.started is not None:
        await svc.started.gatherer.close()
        # In a thread: workers hand their results to this loop, which must keep running.
        await asyncio.to_thread(svc.started.jobs.stop, grace)
    await asyncio.to_thread(svc.digester.close)
    maintenance = app.bot_data.pop(_MAINTENANCE_KEY, None)
    if maintenance is not None:
        maintenance.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await maintenance
    await app.shutdown()
    redis_parts: RedisFrontEnd | None = app.bot_data.get(_REDIS_KEY)
    if redis_parts is not None:
        await redis_parts.close()
    else:
        svc.store.close()
    if svc.queue_db is not None:
        svc.queue_db.close()


async def set_commands(app: BotApp, texts: Texts) -> None:
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


def run_polling(app: BotApp, grace: float = STOP_GRACE_S) -> None:
    """Run with long polling until SIGINT or SIGTERM."""
    _run(app, lambda: start(app), grace)


def run_webhook(
    app: BotApp,
    secret: str,
    grace: float = STOP_GRACE_S,
) -> None:
    """Serve the webhook until SIGINT or SIGTERM."""
    _run(app, lambda: start_webhook(app, secret), grace)


def _run(
    app: BotApp,
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
