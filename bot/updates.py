"""Each Telegram update handled once, and none lost: the update ledger and its processor.

Telegram delivers an update again when it was not confirmed (a webhook answered late or not
at all, a poll not confirmed before a crash). The ledger remembers every ``update_id``:

* the webhook **stores** an update before answering 200 (``store``), so a crash after the
  answer loses nothing;
* :class:`LedgerUpdateProcessor`, python-telegram-bot's update processor, **claims** each
  update before its handlers run (``begin``: recorded now if polling brought it, refused if
  it was handled before or is being handled) and marks it done when they return
  (``finish``);
* a part of a long paste is **deferred** by its handler: it is done only once the gathered
  paste is a job (``settle``; the durable queue marks it done in the job's own transaction);
* at start-up the updates not yet done are handled again (``unfinished``).

The job made for an update carries its ``update_id`` (:func:`current_update_ids`), so even a
repeated handling never queues a second job.

:class:`MemoryUpdateLedger` keeps the recent ids in memory only (``[telegram] job_queue =
"memory"``); :class:`bot.durable_queue.SqliteUpdateLedger` keeps them in SQLite.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# The updates the code running now answers (set around each update's handlers, and around a
# gathered paste's submission).
_CURRENT: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "current_update_ids", default=()
)
# Concurrently handled updates, as with ApplicationBuilder.concurrent_updates(True).
MAX_CONCURRENT_UPDATES = 256
# Ids the in-memory ledger remembers.
MEMORY_LEDGER_SIZE = 100_000


def current_update_ids() -> tuple[int, ...]:
    return _CURRENT.get()


def set_current_update_ids(update_ids: Sequence[int]) -> contextvars.Token[tuple[int, ...]]:
    return _CURRENT.set(tuple(update_ids))


class UpdateLedger(Protocol):
    async def store(self, update_id: int, payload: str) -> bool:
        """Keep the update durably (webhook, before answering); False if seen before."""

    async def begin(self, update_id: int, payload: Callable[[], str]) -> bool:
        """Claim the update for handling now; False if it was handled or is being handled.
        ``payload()`` gives its JSON, to record it if it is new (polling)."""

    async def finish(self, update_id: int) -> None:
        """Its handlers returned: done (unless deferred)."""

    def abandon(self, update_id: int) -> None:
        """Handling was interrupted (shutdown): leave it to be handled after the restart."""

    def defer(self, update_id: int) -> None:
        """A paste part: done only when the paste is settled."""

    async def settle(self, update_ids: Sequence[int]) -> None:
        """The paste of these parts was submitted (or refused): they are done."""

    async def unfinished(self) -> list[tuple[int, str]]:
        """(update_id, payload) of updates stored or claimed but not done, oldest first."""


class MemoryUpdateLedger:
    """Recent update ids in memory: duplicates are caught while the process lives."""

    def __init__(self, size: int = MEMORY_LEDGER_SIZE) -> None:
        self._size = size
        self._seen: OrderedDict[int, bool] = OrderedDict()  # id -> done
        self._in_flight: set[int] = set()
        self._deferred: set[int] = set()

    def _remember(self, update_id: int, done: bool) -> None:
        self._seen[update_id] = done
        self._seen.move_to_end(update_id)
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)

    async def store(self, update_id: int, payload: str) -> bool:
        if update_id in self._seen:
            return False
        self._remember(update_id, False)
        return True

    async def begin(self, update_id: int, payload: Callable[[], str]) -> bool:
        if self._seen.get(update_id) or update_id in self._in_flight or update_id in self._deferred:
            return False
        self._remember(update_id, False)
        self._in_flight.add(update_id)
        return True

    async def finish(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        if update_id not in self._deferred:
            self._remember(update_id, True)

    def abandon(self, update_id: int) -> None:
        self._in_flight.discard(update_id)

    def defer(self, update_id: int) -> None:
        self._deferred.add(update_id)

    async def settle(self, update_ids: Sequence[int]) -> None:
        for update_id in update_ids:
            self._deferred.discard(update_id)
            self._remember(update_id, True)

    async def unfinished(self) -> list[tuple[int, str]]:
        return []


class LedgerUpdateProcessor(BaseUpdateProcessor):
    """Handles updates concurrently (like ``concurrent_updates(True)``), each at most once."""

    def __init__(
        self,
        ledger: UpdateLedger,
        on_received: Callable[[bool], None] | None = None,
        max_concurrent_updates: int = MAX_CONCURRENT_UPDATES,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.ledger = ledger
        # Told of each update: True if it is handled now, False if it was a duplicate.
        self._on_received = on_received

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        fresh = await self.ledger.begin(
            update.update_id, lambda: json.dumps(update.to_dict(), ensure_ascii=False)
        )
        if self._on_received is not None:
            self._on_received(fresh)
        if not fresh:
            log.info("update %s was handled before: skipped", update.update_id)
            if hasattr(coroutine, "close"):
                coroutine.close()  # never awaited: say so, quietly
            return
        token = set_current_update_ids((update.update_id,))
        try:
            await coroutine
        except BaseException:
            # Cancelled by a shutdown: handle it again after the restart.
            self.ledger.abandon(update.update_id)
            raise
        finally:
            _CURRENT.reset(token)
        await self.ledger.finish(update.update_id)
