"""One check of one source: conditional GET, parse, what is new, what the followers are owed.

The check decides; the store records (``SourceStore.record_check``, one transaction), so a
crash between the two only repeats the check. On the first successful check only the newest
``backlog`` items are owed (a new follower does not get the whole archive); later, at most
``max_new_items`` per check, the rest skipped with a notice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from settings.schema import Settings, SourcesSettings
from sources.model import CheckRecord, Item, OutboxKind, SourceState
from sources.parse import SourceFormatError, parse_items
from sources.safe_fetch import (
    AddressCheck,
    Fetched,
    FetchError,
    Resource,
    Validators,
    address_check,
    fetch_resource,
    fetch_url,
)
from sources.schedule import after_failure, after_success

log = logging.getLogger(__name__)

# Given item keys, those already seen for the source.
SeenLookup = Callable[[Sequence[str]], set[str]]


class SourceFetcher(Protocol):
    """How sources and their items are fetched (tests may count the calls)."""

    async def resource(self, url: str, validators: Validators) -> Resource: ...

    async def item(self, url: str) -> Fetched: ...


class SafeFetcher:
    """Through :mod:`sources.safe_fetch`: public addresses only unless [fetch] allows more."""

    def __init__(self, settings: Settings, allowed: AddressCheck | None = None) -> None:
        self._limits = settings.sources
        self._item_bytes = settings.ingest.max_bytes
        self._allowed = allowed or address_check(settings.fetch.allow_private_networks)

    async def resource(self, url: str, validators: Validators) -> Resource:
        return await fetch_resource(
            url,
            max_bytes=self._limits.max_feed_bytes,
            timeout=self._limits.fetch_timeout_s,
            allowed=self._allowed,
            validators=validators,
            truncate=True,
        )

    async def item(self, url: str) -> Fetched:
        return await fetch_url(
            url,
            max_bytes=self._item_bytes,
            timeout=self._limits.fetch_timeout_s,
            allowed=self._allowed,
        )


async def check_source(
    state: SourceState,
    fetcher: SourceFetcher,
    seen: SeenLookup,
    limits: SourcesSettings,
    now: float,
    backlog: int = 1,
) -> CheckRecord:
    """Check ``state``'s source once; never raises for the source's own faults."""
    spec = state.spec
    try:
        resource = await fetcher.resource(spec.url, state.validators)
        if resource.not_modified:
            return _success(state, now, resource.validators)
        parsed = parse_items(resource, spec.pattern, limits.max_items)
    except (FetchError, SourceFormatError) as exc:
        log.info("source %s failed: %s", spec.url, exc)
        moved = after_failure(state, now, str(exc), limits)
        return CheckRecord(state=moved.state, notice=moved.notice, notice_detail=str(exc))
    keys = [item.key for item in parsed.items]
    known = seen(keys)
    fresh = [item for item in parsed.items if item.key not in known]
    skipped = 0
    if not state.initialised:
        # The rest of the archive is marked seen, never posted.
        fresh = fresh[:backlog]
    elif len(fresh) > limits.max_new_items:
        skipped = len(fresh) - limits.max_new_items
        fresh = fresh[: limits.max_new_items]
    record = _success(state, now, resource.validators, parsed.items[0] if parsed.items else None)
    notice, detail = record.notice, record.notice_detail
    if notice is None and fresh and (skipped or resource.truncated):
        notice, detail = OutboxKind.CAPPED, str(skipped)
    return replace(
        record,
        seen_keys=tuple(keys),
        # Posted oldest first, as they were published.
        new_items=tuple(reversed(fresh)),
        skipped=skipped,
        truncated=resource.truncated,
        notice=notice,
        notice_detail=detail,
    )


def _success(
    state: SourceState, now: float, validators: Validators, newest: Item | None = None
) -> CheckRecord:
    moved = after_success(state, now)
    updated = replace(moved.state, validators=validators, newest=newest or state.newest)
    return CheckRecord(state=updated, notice=moved.notice)
