"""Build the python-telegram-bot ``Application``, wire the handlers, start and stop it.

Start-up and shutdown are written out (rather than ``Application.run_polling``) so that the
CLI and the end-to-end tests go through the same code: initialise, start the workers and
the paste gatherer, register the command menu, start polling; and the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Mapping

from telegram import BotCommand, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot import handlers
from bot.delivery import Delivery
from bot.fetch_url import AddressCheck
from bot.gather import PasteGatherer
from bot.jobs import InMemoryJobQueue, JobQueue, Runner
from bot.ratelimit import RateLimiter
from bot.runner import DigestRunner
from bot.services import SERVICES_KEY, DigestEngine, JobQueueFactory, Services
from bot.store import Store
from bot.texts import DEFAULT_UI_LANGUAGE, Texts
from settings.schema import SUPPORTED_LANGUAGES, Settings, TelegramSettings

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
    """Replaces the token in every log record: PTB and httpx put it in URLs and messages."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._token in message:
            record.msg, record.args = message.replace(self._token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._token in record.exc_text:
            record.exc_text = record.exc_text.replace(self._token, "<token>")
        return True


def protect_logs(token: str) -> None:
    """Keep the token out of the logs, whatever the level."""
    # httpx logs every request URL (which contains the token) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    redact = RedactToken(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)


def default_job_queue(runner: Runner, settings: TelegramSettings) -> JobQueue:
    return InMemoryJobQueue(runner, workers=settings.workers, max_waiting=settings.queue_size)


def build_application(
    settings: Settings,
    token: str,
    *,
    engine: DigestEngine | None = None,
    job_queue_factory: JobQueueFactory = default_job_queue,
    address_check: AddressCheck | None = None,
) -> Application:  # type: ignore[type-arg]
    """The Application with every handler wired; ``engine`` defaults to the real pipeline."""
    # The Application's HTTP client (httpx) logs every request URL, token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = Texts.load(settings.paths.prompts_dir)
    if engine is None:
        from digest.pipeline import Pipeline

        engine = Pipeline(settings)
    tg = settings.telegram
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        # Handlers only queue work and talk to Telegram; running them concurrently keeps one
        # slow download or edit from holding up everyone else.
        .concurrent_updates(True)
        .build()
    )
    services = Services(
        settings=settings,
        engine=engine,
        texts=texts,
        store=Store(settings.storage.dir),
        limiter=RateLimiter(tg.rate_limit_per_minute),
        job_queue_factory=job_queue_factory,
        address_check=address_check,
    )
    app.bot_data[SERVICES_KEY] = services
    handlers.register(app)
    return app


async def start(
    app: Application,  # type: ignore[type-arg]
    *,
    poll_timeout: int = POLL_TIMEOUT_S,
    poll_interval: float = 0.0,
) -> None:
    """Initialise (getMe), start workers and gatherer, set the command menu, start polling."""
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
    svc.jobs = svc.job_queue_factory(runner, svc.settings.telegram)
    svc.jobs.start()
    await set_commands(app, svc.texts)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(
        poll_interval=poll_interval,
        timeout=poll_timeout,
        allowed_updates=ALLOWED_UPDATES,
    )
    log.info("bot @%s is polling", app.bot.username)


async def stop(app: Application, grace: float = STOP_GRACE_S) -> None:  # type: ignore[type-arg]
    """Stop polling, let running jobs finish (up to ``grace`` s), release everything."""
    svc: Services = app.bot_data[SERVICES_KEY]
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if hasattr(svc, "gatherer"):
        await svc.gatherer.close()
    if hasattr(svc, "jobs"):
        # In a thread: workers hand their results to this loop, which must keep running.
        await asyncio.to_thread(svc.jobs.stop, grace)
    await app.shutdown()
    svc.store.close()


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


def run_polling(app: Application) -> None:  # type: ignore[type-arg]
    """Run until SIGINT or SIGTERM."""

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # not on Windows
                loop.add_signal_handler(sig, stopping.set)
        try:
            await start(app)
            await stopping.wait()
            log.info("stopping")
        finally:
            await stop(app)

    asyncio.run(serve())
