"""While a job runs: a "typing" chat action and one status message edited as stages finish.

Lives on the event loop. Worker threads post stage lines with ``loop.call_soon_threadsafe``;
one task per job turns them into edits, so edits never overlap or arrive out of order and a
burst of stages costs one edit.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import TelegramError

log = logging.getLogger(__name__)

# Telegram shows a chat action for about 5 s; renew it a little before.
TYPING_EVERY_S = 4.0


class StatusReporter:
    def __init__(self, bot: Bot, chat_id: int, message_id: int | None, header: str) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self.message_id = message_id
        self._header = header
        self._lines: dict[str, str] = {}
        self._shown: str | None = None
        self._changed = asyncio.Event()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._changed.set()  # show the header at once
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stage(self, key: str, line: str) -> None:
        """Set the line for a stage (replacing its earlier line). Call on the event loop."""
        self._lines[key] = line
        self._changed.set()

    def text(self) -> str:
        return "\n".join([self._header, *self._lines.values()])

    async def close(self) -> None:
        """Stop editing; the caller is about to replace the status message.

        A flag rather than ``Task.cancel()``: in Python 3.11 ``asyncio.wait_for`` can swallow a
        cancellation that arrives as its awaitable completes, which would hang this forever.
        An edit in flight is let finish, so it cannot land on top of the digest.
        """
        self._stopped = True
        self._changed.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def finish(self, text: str) -> None:
        """Stop and turn the status message into ``text`` (an error, "cancelled"...)."""
        await self.close()
        await self._show(text)

    async def _run(self) -> None:
        last_typing = 0.0
        while not self._stopped:
            now = time.monotonic()
            if now - last_typing >= TYPING_EVERY_S:
                last_typing = now
                await self._typing()
            try:
                async with asyncio.timeout(TYPING_EVERY_S):
                    await self._changed.wait()
            except TimeoutError:
                continue
            if self._stopped:
                return
            self._changed.clear()
            await self._show(self.text())

    async def _typing(self) -> None:
        try:
            await self._bot.send_chat_action(self.chat_id, ChatAction.TYPING)
        except TelegramError as exc:
            log.debug("chat action failed: %s", exc)

    async def _show(self, text: str) -> None:
        # Telegram refuses an edit that changes nothing ("message is not modified").
        if text == self._shown:
            return
        try:
            if self.message_id is None:
                message = await self._bot.send_message(self.chat_id, text)
                self.message_id = message.message_id
            else:
                await self._bot.edit_message_text(text, self.chat_id, self.message_id)
            self._shown = text
        except TelegramError as exc:
            # Progress is a courtesy: a failed edit must not fail the job.
            log.debug("status edit failed: %s", exc)
