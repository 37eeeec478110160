"""Where followed sources keep their state: the protocol, so that stores can be swapped.

:class:`sources.sqlite_store.SqliteSourceStore` keeps it in the bot's SQLite file (and in the
watch command's directory); :class:`sources.redis_store.RedisSourceStore` in Redis for
scale-out deployments, shared by the front ends. ``claim_due`` is what makes several front
ends fetch a source once (a lease per source, taken atomically), and ``record_check`` must
write a check's findings atomically (state, seen items, outbox) so that a crash repeats a
check rather than losing or doubling what it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from digest.changes import BriefingRecord
from sources.model import (
    AddOutcome,
    CheckRecord,
    Item,
    OutboxEntry,
    SourceSpec,
    SourceState,
    Subscription,
)


@dataclass(frozen=True, slots=True)
class ItemDigest:
    """An item digested once for all its followers; ``ref`` None: a duplicate, not posted."""

    ref: str | None
    content_hash: str


class SourceStore(Protocol):
    # -- subscriptions ----------------------------------------------------------------------
    def follow(self, spec: SourceSpec, sub: Subscription, max_per_chat: int) -> AddOutcome:
        """Subscribe ``sub.chat_id``; a follower of a source already checked is owed its
        newest item (a first subscription posts only that one)."""

    def unfollow(self, chat_id: int, source_id: str) -> bool:
        """False if the chat did not follow it. A source nobody follows is forgotten."""

    def following(self, chat_id: int) -> list[SourceState]:
        """The chat's sources, in the order they were followed."""

    def followers(self, source_id: str) -> list[int]: ...

    # -- checks -----------------------------------------------------------------------------
    def claim_due(
        self, now: float, owner: str, lease_s: float, limit: int, *, everything: bool = False
    ) -> list[SourceState]:
        """Sources due by ``now`` (``everything``: due or not) that no other front end holds,
        leased to ``owner`` until ``now + lease_s``."""

    def seen(self, source_id: str, keys: Sequence[str]) -> set[str]: ...

    def record_check(self, record: CheckRecord, owner: str) -> None:
        """Save the state, mark the items seen, owe each follower the new items and any
        notice, release the lease: all or nothing."""

    # -- what followers are owed ------------------------------------------------------------
    def outbox(self, limit: int) -> list[OutboxEntry]:
        """Oldest first."""

    def done(self, entry_id: int) -> None: ...

    def item_digest(self, source_id: str, item: Item) -> ItemDigest | None: ...

    def save_item_digest(self, source_id: str, item: Item, digest: ItemDigest) -> None: ...

    def is_duplicate(self, source_id: str, content_hash: str) -> bool:
        """True when another item of the source had this text (a re-published transcript)."""

    def previous_briefing(self, source_id: str) -> BriefingRecord | None: ...

    def save_briefing(self, source_id: str, record: BriefingRecord) -> None: ...

    def close(self) -> None: ...
