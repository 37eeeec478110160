"""What both update ledgers (SQLite and Redis, see ``bot/updates.py`` for the contract) keep
in memory about the updates this process handles, and the order of their steps; each backend
only says how an update is stored, claimed, marked done and let go.

The sets are only ever touched on the event loop.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import StrEnum

log = logging.getLogger(__name__)


class UpdateVerdict(StrEnum):
    """What to do with an update about to be handled."""

    HANDLE = "handle"
    # Handled before (a redelivery).
    DONE = "done"
    # Its handling was started ``max_attempts`` times without finishing: it crashes the process.
    POISON = "poison"
    # Another front end holds its claim (Redis: several front ends share one ledger).
    BUSY = "busy"


class ClaimingLedger(ABC):
    def __init__(self, max_attempts: int) -> None:
        self._max_attempts = max_attempts
        # Stored by the webhook and about to be handled (already counted as an attempt); being
        # handled now; parts of pastes still being gathered (done once the paste is a job).
        self._claimed: set[int] = set()
        self._in_flight: set[int] = set()
        self._deferred: set[int] = set()

    # -- what each backend writes ---------------------------------------------------------
    @abstractmethod
    async def _write_update(self, update_id: int, payload: str) -> bool:
        """Store a received update, claimed by this process; False when it was known."""

    @abstractmethod
    async def _claim_update(self, update_id: int, payload: str) -> UpdateVerdict:
        """Claim an update (stored unless known), counting the attempt."""

    @abstractmethod
    async def _write_finished(self, update_id: int) -> None:
        """Mark one update done."""

    @abstractmethod
    async def _write_settled(self, update_ids: Sequence[int]) -> None:
        """Mark updates done at once (the parts of a paste that became a job)."""

    @abstractmethod
    async def _write_released(self, update_id: int) -> None:
        """Let go of an update's claim, so that it is handled again."""

    # -- the contract ---------------------------------------------------------------------
    async def store(self, update_id: int, payload: str) -> bool:
        fresh = await self._write_update(update_id, payload)
        if fresh:
            self._claimed.add(update_id)
        return fresh

    async def begin(self, update_id: int, payload: Callable[[], str]) -> bool:
        if update_id in self._claimed:
            # Stored by the webhook a moment ago: nothing more to write.
            self._claimed.discard(update_id)
            self._in_flight.add(update_id)
            return True
        if update_id in self._in_flight or update_id in self._deferred:
            return False
        self._in_flight.add(update_id)
        try:
            verdict = await self._claim_update(update_id, payload())
        except BaseException:
            self._in_flight.discard(update_id)
            raise
        if verdict is UpdateVerdict.POISON:
            log.error(
                "update %s was being handled during %d crashes or stops: skipped",
                update_id,
                self._max_attempts,
            )
        if verdict is not UpdateVerdict.HANDLE:
            self._in_flight.discard(update_id)
            return False
        return True

    async def finish(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        if update_id not in self._deferred:
            await self._write_finished(update_id)

    def abandon(self, update_id: int) -> None:
        self._in_flight.discard(update_id)

    async def release(self, update_id: int) -> None:
        self._in_flight.discard(update_id)
        await self._write_released(update_id)

    def defer(self, update_id: int) -> None:
        self._deferred.add(update_id)

    async def settle(self, update_ids: Sequence[int]) -> None:
        self._deferred.difference_update(update_ids)
        await self._write_settled(update_ids)
