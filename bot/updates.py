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
* at start-up the updates not yet done are handled again (``unfinished``);
* an update whose handling could neither make a job nor tell the user why there is none
  (Telegram down, the disk full) is **released** (``release``: not done, the attempt not
  counted) and handled again after a pause that doubles up to a minute.

The job made for an update carries its ``update_id`` (:func:`current_update_ids`), so even a
repeated handling never queues a second job.

:class:`MemoryUpdateLedger` keeps the recent ids in memory only (``[telegram] job_queue =
"memory"``); :class:`bot.durable_queue.SqliteUpdateLedger` keeps them in SQLite.
"""

from __future__ import annotations

import asyncio
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
# Pauses before an unsettled update is handled again: from the first, doubling to the last.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
# Ids the in-memory ledger remembers.
MEMORY_LEDGER_SIZE = 100_000


def current_update_ids() -> tuple[int, ...]:
    return _CURRENT.get()


def set_current_update_ids(update_ids: Sequence[int]) -> contextvars.Token[tuple[int, ...]]:
    return _CURRENT.set(tuple(update_ids))


class Handling:
    """What the handlers of one update report back to the processor."""

    __slots__ = ("settled",)

    def __init__(self) -> None:
        # False: neither a job nor a successful answer came of it; handle it again later.
        self.settled = True


_HANDLING: contextvars.ContextVar[Handling | None] = contextvars.ContextVar(
    "handling", default=None
)


def leave_unsettled() -> None:
    """Called by a handler (or the error handler) that could not make a job and could not tell
    the user why: the update is not marked done, and it is handled again later."""
    handling = _HANDLING.get()
    if handling is not None:
        handling.settled = False


def retry_pause(tries: int) -> float:
    """Pause before handling an update again for the ``tries``-th time (1, 2, 4... 60 s)."""
    return min(RETRY_FIRST_S * 2 ** max(0, tries - 1), RETRY_MAX_S)


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

    async def release(self, update_id: int) -> None:
        """Handling failed for a passing reason: not done, and this attempt does not count."""

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

    async def release(self, update_id: int) -> None:
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
    """Handles updates concurrently (like ``concurrent_updates(True)``), each at most once, and
    hands an unsettled one (see :func:`leave_unsettled`) back to ``requeue`` after a pause."""

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
        # Where an update to handle again goes (the Application's update queue); set by the bot.
        self.requeue: Callable[[Update], Awaitable[None]] | None = None
        self._tries: dict[int, int] = {}
        self._later: set[asyncio.Task[None]] = set()

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        # Updates waiting to be tried again stay stored (not done): the next start has them.
        for task in list(self._later):
            task.cancel()
        await asyncio.gather(*self._later, return_exceptions=True)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        try:
            fresh = await self.ledger.begin(
                update.update_id, lambda: json.dumps(update.to_dict(), ensure_ascii=False)
            )
        except Exception as exc:
            # Not even recorded (the disk is full?): Telegram has confirmed it, so keep it here.
            _close(coroutine)
            self._again(update, f"cannot record it: {exc}")
            return
        if self._on_received is not None:
            self._on_received(fresh)
        if not fresh:
            log.info("update %s was handled before: skipped", update.update_id)
            _close(coroutine)
            return
        handling = Handling()
        token = set_current_update_ids((update.update_id,))
        handling_token = _HANDLING.set(handling)
        try:
            await coroutine
        except BaseException:
            # Cancelled by a shutdown: handle it again after the restart.
            self.ledger.abandon(update.update_id)
            raise
        finally:
            _HANDLING.reset(handling_token)
            _CURRENT.reset(token)
        if not handling.settled:
            try:
                await self.ledger.release(update.update_id)
            except Exception as exc:
                log.warning("update %s: cannot release it (%s)", update.update_id, exc)
            self._again(update, "neither a job nor an answer came of it")
            return
        self._tries.pop(update.update_id, None)
        await self._finish(update.update_id)

    async def _finish(self, update_id: int, tries: int = 0) -> None:
        """Mark done; while the disk is full, try again later (it was handled: only the mark
        is missing, and without it a restart would answer it twice)."""
        try:
            await self.ledger.finish(update_id)
        except Exception as exc:
            if tries == 0:
                log.error("update %s handled, but cannot mark it done (%s)", update_id, exc)
            self._spawn(self._finish_later(update_id, tries + 1))

    async def _finish_later(self, update_id: int, tries: int) -> None:
        await asyncio.sleep(retry_pause(tries))
        await self._finish(update_id, tries)

    def _again(self, update: Update, why: str) -> None:
        tries = self._tries.get(update.update_id, 0) + 1
        self._tries[update.update_id] = tries
        pause = retry_pause(tries)
        log.warning("update %s: %s; handled again in %.0f s", update.update_id, why, pause)
        self._spawn(self._requeue_later(update, pause))

    async def _requeue_later(self, update: Update, pause: float) -> None:
        await asyncio.sleep(pause)
        if self.requeue is not None:
            await self.requeue(update)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._later.add(task)
        task.add_done_callback(self._later.discard)


def _close(coroutine: Awaitable[Any]) -> None:
    if hasattr(coroutine, "close"):
        coroutine.close()  # never awaited: say so, quietly
