"""One job, run in a worker thread: get the bytes, have them digested, hand them to the loop.

The CPU-heavy and parser work (ingest, pipeline, rendering) happens in a worker process of
the digest pool (workers/), never in the bot's process: this thread only waits for it, passing
progress on to the status message and the user's /cancel to the worker. Everything that talks
to Telegram is a coroutine scheduled on the loop with ``run_coroutine_threadsafe``; the thread
waits for it, so a job is finished only once the user has their answer.

Failures the user can act on (a language we do not digest, an unreadable file, a link that
cannot be fetched) are told at once and end the job. Anything else (Telegram unreachable, an
unexpected error) raises :class:`RetryJob`: the queue tries again later, and after the last
attempt :meth:`DigestRunner.give_up` sends the apology with the job's reference. A job that
broke a limit of the pool (time, memory) or crashed its worker on every try is not retried:
the user is told at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.fetch_url import AddressCheck, FetchError, fetch_url
from bot.jobs import DeliveryState, Job, JobCancelled, Outcome, RetryJob, interrupted
from bot.progress import StatusReporter
from bot.rendering import RenderedDigest, RenderedLanguage
from bot.services import Services
from bot.status_messages import reply_to
from bot.texts import Texts
from digest.errors import DigestError, IngestError, UnsupportedLanguageError
from digest.pipeline import Progress
from settings.schema import SUPPORTED_LANGUAGES
from workers import (
    BytesSource,
    DigestRequest,
    DigestResult,
    JobCancelledError,
    LimitExceededError,
    LimitKind,
    OutputFormat,
    PoolClosedError,
    WorkerCrashedError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# Longest a worker waits for one piece of Telegram work (a download, the digest messages).
LOOP_CALL_TIMEOUT_S = 300.0


class DigestRunner:
    def __init__(
        self,
        services: Services,
        bot: Bot,
        loop: asyncio.AbstractEventLoop,
        address_check: AddressCheck | None = None,
    ) -> None:
        self._svc = services
        self._bot = bot
        self._loop = loop
        self._address_check = address_check

    def __call__(self, job: Job, cancel: threading.Event) -> Outcome:
        texts = self._svc.texts
        ui = job.ui_language
        delivery = self._svc.jobs.delivery(job.id)
        if delivery is DeliveryState.DELIVERED:
            # Run again after a crash that came after the delivery: nothing left to do.
            log.info("job %s: delivered before the restart", job.id)
            return Outcome.DONE
        if delivery is DeliveryState.DELIVERING:
            try:
                if self._redeliver(job):
                    return Outcome.DONE
            except Exception as exc:
                log.warning("job %s: showing the digest again failed (%s)", job.id, _brief(exc))
                raise RetryJob(_brief(exc)) from exc
        try:
            reporter = self._on_loop(self._begin(job))
        except Exception as exc:
            log.warning("job %s: cannot start (%s; is the bot stopping?)", job.id, _brief(exc))
            raise RetryJob("could not start") from exc
        outcome = Outcome.FAILED
        try:
            self._run(job, cancel, reporter)
            return Outcome.DONE
        except JobCancelled:
            if not cancel.is_set() or interrupted(cancel):
                # Not the user: the bot (or the Redis worker) is stopping, or the attempt ran
                # out of time. Kept for the next start, or the next attempt.
                self._close_quietly(reporter)
                raise RetryJob("interrupted by the shutdown") from None
            text, outcome = texts.get(ui, "job_cancelled"), Outcome.CANCELLED
        except UnsupportedLanguageError as exc:
            text = texts.get(ui, "unsupported_language", code=exc.code)
        except FetchError as exc:
            text = texts.get(ui, "url_error", reason=str(exc))
        except LimitExceededError as exc:
            log.warning("job %s broke its %s limit (user %s)", job.id, exc.limit.value, job.user_id)
            text = _limit_text(texts, ui, exc)
        except WorkerCrashedError as exc:
            # Retried by the pool already; another attempt would crash a worker again.
            log.error("job %s failed: %s (user %s)", job.id, exc, job.user_id)
            text = texts.get(ui, "failure", ref=job.id)
        except PoolClosedError:
            self._close_quietly(reporter)
            raise RetryJob("interrupted by the shutdown") from None
        except DigestError as exc:
            text = texts.get(ui, "ingest_error", reason=str(exc))
        except Forbidden as exc:
            # Blocked by the user, or removed from the group: nobody to tell.
            log.info("job %s: the chat is closed to the bot (%s)", job.id, exc.message)
            self._close_quietly(reporter)
            return Outcome.FAILED
        except Exception as exc:
            # The reference (the job id) is in the log with the traceback, and in the apology
            # that follows the last attempt.
            log.exception(
                "job %s failed, attempt %d (user %s, chat %s)",
                job.id,
                job.attempts,
                job.user_id,
                job.chat_id,
            )
            self._close_quietly(reporter)
            raise RetryJob(_brief(exc)) from exc
        try:
            self._on_loop(reporter.finish(text))
        except RuntimeError:
            log.warning("job %s: the bot stopped before the user could be told", job.id)
        except Exception:
            log.exception("job %s: could not tell the user", job.id)
        return outcome

    def give_up(self, job: Job) -> None:
        """After the last attempt: the apology with the job's reference, instead of the status."""
        if self._svc.jobs.delivery(job.id) is not DeliveryState.NONE:
            return  # the digest reached (or may have reached) the user: never overwrite it
        # The reference is the job id's start: enough to find it in the log, short to quote.
        text = self._svc.texts.get(job.ui_language, "failure", ref=job.id[:8])
        job.status_message_id = self._svc.jobs.status_message(job.id)
        try:
            self._on_loop(self._tell(job, text))
        except Forbidden as exc:
            log.info("job %s: the chat is closed to the bot (%s)", job.id, exc.message)

    async def _tell(self, job: Job, text: str) -> None:
        """The status message becomes ``text`` (a new message if it is gone). Raises when
        Telegram cannot be reached, so that the queue tries again."""
        if job.status_message_id is not None:
            try:
                await self._bot.edit_message_text(text, job.chat_id, job.status_message_id)
                return
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return
                log.info("job %s: status message not editable (%s)", job.id, exc.message)
        await self._bot.send_message(
            job.chat_id, text, reply_parameters=reply_to(job.reply_to_message_id)
        )

    def _redeliver(self, job: Job) -> bool:
        """A crash came while the digest was being shown: show the stored one again (the same
        views, edited in place). False if it is no longer stored: then the job runs again."""
        digest = self._svc.store.digest(job.id)
        if digest is None:
            return False
        status_message_id = self._svc.jobs.status_message(job.id)
        self._deliver(job, digest, status_message_id)
        log.info("job %s delivered again after a restart", job.id)
        return True

    def _deliver(self, job: Job, digest: RenderedDigest, status_message_id: int | None) -> None:
        """Replace the status message with the digest, with its state recorded before and
        after: a re-run never turns a delivered digest back into a status message."""
        jobs = self._svc.jobs
        jobs.set_delivery(job.id, DeliveryState.DELIVERING)
        self._on_loop(self._svc.delivery.show_digest(job, digest, status_message_id))
        jobs.set_delivery(job.id, DeliveryState.DELIVERED)

    def _close_quietly(self, reporter: StatusReporter) -> None:
        try:
            self._on_loop(reporter.close())
        except Exception:
            log.debug("could not stop the status updates", exc_info=True)

    def _run(self, job: Job, cancel: threading.Event, reporter: StatusReporter) -> None:
        data, name = self._obtain(job)
        if cancel.is_set():
            raise JobCancelled
        rendered = self._digest(job, cancel, reporter, data, name)
        self._svc.store.save_digest(rendered, job.chat_id)
        self._on_loop(reporter.close())
        self._deliver(job, rendered, reporter.message_id)
        log.info("job %s delivered (user %s, %s)", job.id, job.user_id, job.source.kind)

    def _digest(
        self,
        job: Job,
        cancel: threading.Event,
        reporter: StatusReporter,
        data: bytes,
        name: str,
    ) -> RenderedDigest:
        """Ingest, pipeline and rendering, in a worker process of the digest pool: this
        thread waits, passing progress to the status message and /cancel to the worker."""
        svc = self._svc

        def progress(step: Progress) -> None:
            # Raising here stops the job in its worker: its user cancelled it, or the bot
            # stopped (its loop is gone, so nobody could be answered anyway).
            if cancel.is_set() or self._loop.is_closed():
                raise JobCancelled
            line = self._stage_line(job.ui_language, step)
            if line:
                self._loop.call_soon_threadsafe(reporter.stage, step.stage, line)

        # All three languages at once: the buttons switch between them without recomputing.
        request = DigestRequest(BytesSource(data, name), SUPPORTED_LANGUAGES, _FORMATS)
        try:
            result = svc.digester.submit(request, progress, cancel).result()
        except JobCancelledError:
            raise JobCancelled from None
        if cancel.is_set():
            raise JobCancelled
        return _rendered(job.id, result)

    def _obtain(self, job: Job) -> tuple[bytes, str]:
        source = job.source
        if source.kind == "text":
            return source.value.encode("utf-8"), source.name
        if source.kind == "file":
            return self._on_loop(self._download(source.value, source.name)), source.name
        tg = self._svc.settings.telegram
        kwargs: dict[str, Any] = {"max_bytes": tg.url_max_bytes, "timeout": tg.url_fetch_timeout_s}
        if self._address_check is not None:
            kwargs["allowed"] = self._address_check
        fetched = self._on_loop(fetch_url(source.value, **kwargs))
        return fetched.data, fetched.name

    async def _begin(self, job: Job) -> StatusReporter:
        """The status message (the one sent when the job was queued, or a new one), now
        showing progress."""
        header = self._svc.texts.get(job.ui_language, "working")
        message_id = await self._svc.status.ensure(job, header)
        reporter = StatusReporter(self._bot, job.chat_id, message_id, header)
        reporter.start()
        return reporter

    async def _download(self, file_id: str, name: str) -> bytes:
        try:
            file = await self._bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())
        except NetworkError:
            raise  # Telegram unreachable: worth another attempt
        except TelegramError as exc:
            raise IngestError(
                f"{name}: Telegram did not hand over the file ({exc.message})"
            ) from exc

    def _stage_line(self, ui: str, step: Progress) -> str | None:
        texts = self._svc.texts
        if step.stage == "language":
            return texts.get(ui, "stage_language", language=texts.language_name(step.detail, ui))
        if step.stage == "topics":
            return texts.get(ui, "stage_topics", count=step.detail)
        if step.stage == "summarising":
            return texts.get(ui, "stage_summarising", done=step.done, total=step.total)
        if step.stage == "translating":
            return texts.get(ui, "stage_translating", done=step.done, total=step.total)
        return None

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("the event loop is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(LOOP_CALL_TIMEOUT_S)


_FORMATS = (OutputFormat.TELEGRAM, OutputFormat.MD, OutputFormat.JSON)


def _rendered(digest_id: str, result: DigestResult) -> RenderedDigest:
    """The worker's renderings, kept as the bot stores and sends them."""
    return RenderedDigest(
        id=digest_id,
        source_name=result.source_name,
        source_language=result.source_language,
        languages={
            lang: RenderedLanguage(
                html_parts=result.telegram[lang],
                markdown=texts[OutputFormat.MD.value],
                json=texts[OutputFormat.JSON.value],
            )
            for lang, texts in result.rendered.items()
        },
    )


def _limit_text(texts: Texts, ui: str, exc: LimitExceededError) -> str:
    if exc.limit is LimitKind.TIME:
        return texts.get(ui, "too_complex_time", seconds=f"{exc.value:g}")
    return texts.get(ui, "too_complex_memory", megabytes=f"{exc.value:g}")


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
