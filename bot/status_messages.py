"""Each job's one status message: sent once, its id kept with the job, reused after a restart.

The handler that queued the job sends "📥 Got it" once the job is stored; the worker that
starts it sends "⏳ Working" if no status message exists yet (the first send failed, or the
worker was quicker). Both go through :meth:`StatusMessages.ensure`, which holds a per-job lock
on the event loop so that the two never send one each, and stores the message id with the
job, so that a re-run after a crash edits the same message instead of sending a second one.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from telegram import Bot, ReplyParameters
from telegram.error import TelegramError

from bot.jobs import Job, JobQueue

log = logging.getLogger(__name__)


def reply_to(message_id: int | None) -> ReplyParameters | None:
    # The original may be deleted meanwhile: send anyway rather than fail.
    if message_id is None:
        return None
    return ReplyParameters(message_id, allow_sending_without_reply=True)


class StatusMessages:
    def __init__(self, bot: Bot, jobs: JobQueue) -> None:
        self._bot = bot
        self._jobs = jobs
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def ensure(self, job: Job, text: str) -> int:
        """The job's status message id, sending ``text`` as that message if there is none yet.
        Raises TelegramError when it cannot be sent (after the API layer's retries)."""
        lock = self._locks.get(job.id)
        if lock is None:
            lock = self._locks[job.id] = asyncio.Lock()
        async with lock:
            known = await asyncio.to_thread(self._jobs.status_message, job.id)
            if known is not None:
                job.status_message_id = known
                return known
            message = await self._bot.send_message(
                job.chat_id, text, reply_parameters=reply_to(job.reply_to_message_id)
            )
            job.status_message_id = message.message_id
            try:
                await asyncio.to_thread(self._jobs.set_status_message, job.id, message.message_id)
            except Exception as exc:
                # Shown, but not remembered: a re-run after a crash would send another.
                log.warning("job %s: cannot store its status message id (%s)", job.id, exc)
            return message.message_id

    async def acknowledge(self, job: Job, text: str) -> None:
        """The "Got it" for a job just queued; if it cannot be sent, the worker that starts the
        job sends its own status message, so nothing is lost."""
        try:
            await self.ensure(job, text)
        except TelegramError as exc:
            log.warning("job %s: the acknowledgement could not be sent (%s)", job.id, exc)
