"""The data of followed sources: what a source is, its items, its state and what is owed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from sources.safe_fetch import Validators


class Health(StrEnum):
    """A source's health: OK; FAILING (recent failures, nobody told yet); DOWN (failing for
    longer than ``failing_notice_after_s``, and its followers were told once)."""

    OK = "ok"
    FAILING = "failing"
    DOWN = "down"


class OutboxKind(StrEnum):
    """What a follower is owed: a new item's digest, or a notice about its source."""

    ITEM = "item"
    # New items over [sources] max_new_items were skipped.
    CAPPED = "capped"
    # The source has failed for failing_notice_after_s (told once)...
    FAILING = "failing"
    # ...and works again.
    RECOVERED = "recovered"


class AddOutcome(StrEnum):
    ADDED = "added"
    ALREADY = "already"
    # The chat follows as many sources as [sources] max_per_chat allows.
    LIMIT = "limit"


def source_id(url: str, pattern: str | None) -> str:
    """One id per (URL, pattern): the same source followed by many chats is fetched once."""
    return hashlib.sha256(f"{url}\0{pattern or ''}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """What a follower asked for: a feed, or a listing page and the pattern of its links."""

    url: str
    # Links on a listing page containing this (``*`` and ``?`` are wildcards) are the items;
    # None: the URL is an RSS or Atom feed.
    pattern: str | None = None
    interval_s: float = 1800.0

    @property
    def id(self) -> str:
        return source_id(self.url, self.pattern)


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of a feed or one matching link of a listing page."""

    # The feed's GUID, else the link: what "seen" is decided by.
    key: str
    link: str
    title: str = ""
    # Seconds since the epoch, when the feed says.
    published: float | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    spec: SourceSpec
    validators: Validators = field(default_factory=Validators)
    next_check: float = 0.0
    failures: int = 0
    # When the current run of failures began (None while the source works).
    failing_since: float | None = None
    health: Health = Health.OK
    last_check: float | None = None
    last_error: str | None = None
    # The newest item seen: shown by /following, and owed to a chat that starts following a
    # source others already follow.
    newest: Item | None = None
    # False until the first successful check: then only the newest item(s) are posted.
    initialised: bool = False

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class Subscription:
    chat_id: int
    source_id: str
    # The user who asked (for a channel, the admin who subscribed it).
    added_by: int | None = None
    created: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """Something owed to one follower; it stays until it is done, so a restart loses nothing."""

    id: int
    kind: OutboxKind
    source_id: str
    chat_id: int
    item: Item | None = None
    # For notices: the count of skipped items, or the error.
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """What one check found, written in one transaction by :meth:`SourceStore.record_check`."""

    state: SourceState
    # Keys of every item the source lists now (marked seen: never posted later).
    seen_keys: tuple[str, ...] = ()
    # Items owed to each follower, oldest first.
    new_items: tuple[Item, ...] = ()
    skipped: int = 0
    # The feed was over [sources] max_feed_bytes and only its start was read.
    truncated: bool = False
    notice: OutboxKind | None = None
    notice_detail: str = ""


def capped_detail(detail: str) -> tuple[int, bool]:
    """(items skipped, feed cut at the size limit) of a CAPPED entry's detail."""
    data = json.loads(detail or "{}")
    return int(data.get("skipped", 0)), bool(data.get("truncated", False))
