"""Check the sources that are due: what the bot's poller and the watch command both do.

Each due source is leased (one front end checks it), fetched once whoever follows it,
checked, and its findings recorded; several sources are checked concurrently.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from settings.schema import SourcesSettings
from sources.check import SourceFetcher, check_source
from sources.model import CheckRecord, SourceState
from sources.store import SourceStore

log = logging.getLogger(__name__)
# Sources checked at once (each is one HTTP request at a time).
CONCURRENT_CHECKS = 8


@dataclass(frozen=True, slots=True)
class Checked:
    source: SourceState
    record: CheckRecord

    @property
    def error(self) -> str | None:
        """Why this check failed, or None."""
        return self.record.state.last_error if self.record.state.failures else None


async def check_due(
    store: SourceStore,
    fetcher: SourceFetcher,
    limits: SourcesSettings,
    owner: str,
    now: float,
    *,
    backlog: int = 1,
    everything: bool = False,
    limit: int = 100,
) -> list[Checked]:
    """Check the sources due by ``now`` (``everything``: all of them, due or not)."""
    due = await asyncio.to_thread(
        functools.partial(store.claim_due, now, owner, limits.lease_s, limit, everything=everything)
    )
    gate = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def one(state: SourceState) -> Checked:
        async with gate:
            record = await check_source(
                state,
                fetcher,
                lambda keys: store.seen(state.id, keys),
                limits,
                now,
                backlog,
            )
        await asyncio.to_thread(store.record_check, record, owner)
        log.info(
            "checked %s: %d new, %s",
            state.spec.url,
            len(record.new_items),
            record.state.last_error or "ok",
        )
        return Checked(state, record)

    return list(await asyncio.gather(*(one(state) for state in due)))


def failures(checked: Sequence[Checked]) -> list[str]:
    """One line per source whose check failed: ``URL: reason``."""
    return [f"{c.source.spec.url}: {c.error}" for c in checked if c.error]
