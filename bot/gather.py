"""Gather the parts of one paste: Telegram splits long texts into several messages.

Text messages from the same user in the same chat that arrive within ``window`` seconds of
each other form one briefing; it is handed on once the user has been quiet that long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from telegram import Message

log = logging.getLogger(__name__)

# A part at least this long was most likely cut by the Telegram client (limit 4,096), so the
# next part continues the same paragraph rather than starting a new one.
_CLIENT_SPLIT_LENGTH = 3500
_SENTENCE_ENDS = (".", "!", "?", "।", "…", ":", ";", '"', "»", "”", ")")

Key = tuple[int, int]  # (chat id, user id)


@dataclass(slots=True)
class Paste:
    key: Key
    # (message id, text); sorted by message id when joined, as updates may be handled out of order.
    parts: list[tuple[int, str]] = field(default_factory=list)
    # The first message, to reply to and to learn the user's language from.
    first: Message | None = None
    # The Telegram updates that brought the parts (done once the paste is a job).
    update_ids: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        joined = ""
        for _, part in sorted(self.parts, key=lambda p: p[0]):
            if not joined:
                joined = part
            elif len(joined) >= _CLIENT_SPLIT_LENGTH and not joined.rstrip().endswith(
                _SENTENCE_ENDS
            ):
                joined = f"{joined.rstrip()} {part.lstrip()}"
            else:
                joined = f"{joined}\n{part}"
        return joined


Flush = Callable[[Paste], Awaitable[None]]


class Gatherer(Protocol):
    """What handlers use: this in-memory gatherer, or ``bot/redis_gather.py`` (shared by
    several front ends)."""

    async def add(self, message: Message, text: str, update_id: int | None = None) -> None: ...

    async def drop(self, chat_id: int, user_id: int) -> Paste | None: ...

    async def close(self) -> None: ...


class PasteGatherer:
    def __init__(self, window: float, flush: Flush) -> None:
        self._window = window
        self._flush = flush
        self._pending: dict[Key, Paste] = {}
        self._timers: dict[Key, asyncio.Task[None]] = {}
        # Pastes being handed on (a flush may wait and try again while Telegram is down).
        self._flushing: set[asyncio.Task[None]] = set()

    async def add(self, message: Message, text: str, update_id: int | None = None) -> None:
        """Add a part; (re)starts the quiet-time timer of its chat and user."""
        if message.from_user is None:
            return
        key = (message.chat_id, message.from_user.id)
        paste = self._pending.setdefault(key, Paste(key))
        paste.parts.append((message.message_id, text))
        if update_id is not None:
            paste.update_ids.append(update_id)
        if paste.first is None or message.message_id < paste.first.message_id:
            paste.first = message
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        task = asyncio.get_running_loop().create_task(self._later(key))
        self._timers[key] = task
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    def parts_waiting(self) -> int:
        """Parts gathered and not yet handed on (for /metrics and tests)."""
        return sum(len(paste.parts) for paste in self._pending.values())

    async def drop(self, chat_id: int, user_id: int) -> Paste | None:
        """Forget a paste still being gathered (/cancel); returns it if there was one."""
        key = (chat_id, user_id)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        return self._pending.pop(key, None)

    async def close(self) -> None:
        """Stop; pastes still being gathered or handed on are dropped (the durable ledger
        keeps their updates, so they are gathered again after a restart)."""
        tasks = list(self._flushing)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._timers.clear()
        self._pending.clear()

    async def _later(self, key: Key) -> None:
        await asyncio.sleep(self._window)
        # From here on the paste is complete: a new part starts a new paste.
        self._timers.pop(key, None)
        paste = self._pending.pop(key, None)
        if paste is None:
            return
        try:
            await self._flush(paste)
        except Exception:
            log.exception("handing on a gathered paste failed")
