"""Followed sources in the bot: check the due ones, digest their new items, post them.

Runs as one task on the bot's loop. Each round: check the due sources (one fetch per source
whoever follows it; a lease keeps other front ends off it), then work through the outbox,
oldest first. An entry leaves the outbox only once its chat has its post or notice, so a
restart loses nothing; an item is digested once for all its followers (the rendered digest
is stored and shown in each chat with its language buttons), and a chat's view of it has a
fixed id, so a repeated delivery edits the same messages rather than posting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from html import escape

from telegram import Bot, LinkPreviewOptions
from telegram.error import Forbidden, TelegramError

from bot.jobs import Job, Source, new_job_id
from bot.rendering import RenderedDigest, RenderedLanguage
from bot.services import Services
from digest.changes import mark_changes, record_of
from digest.errors import DigestError
from digest.model import Digest
from digest.render import render, split_telegram_html
from digest.render.telegram import TELEGRAM_LIMIT
from digest.resources import load_resources
from settings.schema import SUPPORTED_LANGUAGES
from sources.check import SourceFetcher
from sources.model import Item, OutboxEntry, OutboxKind, capped_detail
from sources.runner import check_due
from sources.safe_fetch import FetchError
from sources.store import ItemDigest, SourceStore
from workers import BytesSource, Digester, DigestRequest, DigestResult

log = logging.getLogger(__name__)

# Salt of the content hash that tells a re-published transcript from a new one (the same as
# the watch command's).
CONTENT_SALT = "follow"
OUTBOX_BATCH = 50
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class FollowPoster:
    def __init__(
        self,
        svc: Services,
        bot: Bot,
        store: SourceStore,
        fetcher: SourceFetcher,
        owner: str,
        digester: Digester | None = None,
    ) -> None:
        self._svc = svc
        # Where items are digested: the bot's own (SQLite mode) or the workers' (Redis mode).
        self._digester = digester or svc.digester
        self._bot = bot
        self._store = store
        self._fetcher = fetcher
        self._owner = owner
        self._wake = asyncio.Event()
        # Set after every round (tests and /readyz-style probes wait on it).
        self.rounds = 0

    def wake(self) -> None:
        """Check now (a new subscription), not at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        every = self._svc.settings.sources.poll_every_s
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("a round of source checks failed")
            self.rounds += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await self._wake.wait()
            self._wake.clear()

    async def round(self) -> None:
        limits = self._svc.settings.sources
        # Wall-clock time: schedules are stored as epoch seconds (they outlive the process).
        await check_due(self._store, self._fetcher, limits, self._owner, time.time())
        entries = await asyncio.to_thread(self._store.outbox, OUTBOX_BATCH)
        for entry in entries:
            try:
                await self._deliver(entry)
            except TelegramError as exc:
                # Telegram unreachable or flooding: the entry stays for the next round.
                log.warning("source post to chat %s held back: %s", entry.chat_id, exc)
                return
            await asyncio.to_thread(self._store.done, entry.id)

    async def _deliver(self, entry: OutboxEntry) -> None:
        try:
            if entry.kind is OutboxKind.ITEM and entry.item is not None:
                await self._post_item(entry, entry.item)
            else:
                await self._notice(entry)
        except Forbidden as exc:
            # The bot was removed from the chat or blocked: nobody to post to.
            log.info("chat %s is closed to the bot (%s): entry dropped", entry.chat_id, exc)

    # -- items --------------------------------------------------------------------------------
    async def _post_item(self, entry: OutboxEntry, item: Item) -> None:
        ui, languages = await self._chat_languages(entry.chat_id)
        made = await asyncio.to_thread(self._store.item_digest, entry.source_id, item)
        if made is None:
            try:
                made = await self._digest_item(entry.source_id, item)
            except (FetchError, DigestError) as exc:
                log.info("item %s failed: %s", item.link, exc)
                text = self._svc.texts.get(ui, "follow_item_failed", url=item.link, reason=str(exc))
                await self._bot.send_message(entry.chat_id, text)
                return
        if made.ref is None:
            log.info("%s repeats an earlier item's text: not posted", item.link)
            return
        rendered = await asyncio.to_thread(self._svc.store.digest, made.ref)
        if rendered is None:
            log.warning("digest of %s is no longer stored: not posted", item.link)
            return
        # A job-shaped record so that the ordinary delivery shows it: fixed view ids per
        # entry, the language buttons, the keyboard under the last part.
        job = Job(
            id=f"follow{entry.id:010d}",
            user_id=0,
            chat_id=entry.chat_id,
            source=Source("url", item.link),
            languages=tuple(languages),
            ui_language=ui,
        )
        await self._svc.delivery.show_digest(job, rendered, None)
        log.info("posted %s to chat %s", item.link, entry.chat_id)

    async def _digest_item(self, source_id: str, item: Item) -> ItemDigest:
        fetched = await self._fetcher.item(item.link)
        request = DigestRequest(
            BytesSource(fetched.data, fetched.name),
            SUPPORTED_LANGUAGES,
            formats=(),
            key_salt=CONTENT_SALT,
        )
        result: DigestResult = await asyncio.to_thread(
            lambda: self._digester.submit(request).result()
        )
        key = result.content_key or ""
        if await asyncio.to_thread(self._store.is_duplicate, source_id, key):
            made = ItemDigest(None, key)
        else:
            previous = await asyncio.to_thread(self._store.previous_briefing, source_id)
            digests = {
                lang: replace(d, source_name=item.link) for lang, d in result.digests.items()
            }
            digests = mark_changes(digests, previous)
            rendered = await asyncio.to_thread(self._render, item, digests)
            await asyncio.to_thread(self._svc.store.save_digest, rendered, 0)
            await asyncio.to_thread(
                self._store.save_briefing, source_id, record_of(digests, _day(item.published))
            )
            made = ItemDigest(rendered.id, key)
        await asyncio.to_thread(self._store.save_item_digest, source_id, item, made)
        return made

    def _render(self, item: Item, digests: dict[str, Digest]) -> RenderedDigest:
        resources = load_resources(self._svc.settings.paths.prompts_dir)
        link = f'🔗 <a href="{escape(item.link)}">{escape(item.title or item.link)}</a>'
        first = next(iter(digests.values()))
        languages = {}
        for lang, digest in digests.items():
            parts = split_telegram_html(digest, resources)
            if parts and len(parts[0]) + len(link) + 2 <= TELEGRAM_LIMIT:
                parts[0] = f"{link}\n\n{parts[0]}"
            else:
                parts.insert(0, link)
            languages[lang] = RenderedLanguage(
                html_parts=tuple(parts),
                markdown=render(digest, "md", resources),
                json=render(digest, "json", resources),
            )
        return RenderedDigest(
            id=new_job_id(),
            source_name=item.link,
            source_language=first.source_language,
            languages=languages,
        )

    # -- notices ------------------------------------------------------------------------------
    async def _notice(self, entry: OutboxEntry) -> None:
        """A source failing for a day, working again, or capped: plain text in the chat."""
        ui, _ = await self._chat_languages(entry.chat_id)
        texts, limits = self._svc.texts, self._svc.settings.sources
        url = await asyncio.to_thread(self._source_url, entry)
        if entry.kind is OutboxKind.FAILING:
            hours = f"{limits.failing_notice_after_s / 3600:g}"
            lines = [texts.get(ui, "source_failing", url=url, hours=hours, reason=entry.detail)]
        elif entry.kind is OutboxKind.RECOVERED:
            lines = [texts.get(ui, "source_recovered", url=url)]
        else:
            skipped, truncated = capped_detail(entry.detail)
            lines = []
            if skipped:
                lines.append(
                    texts.get(ui, "source_capped", count=skipped, url=url, max=limits.max_new_items)
                )
            if truncated:
                mb = f"{limits.max_feed_bytes / 1e6:g}"
                lines.append(texts.get(ui, "source_truncated", url=url, mb=mb))
        if lines:
            await self._bot.send_message(
                entry.chat_id, "\n".join(lines), link_preview_options=_NO_PREVIEW
            )

    def _source_url(self, entry: OutboxEntry) -> str:
        for state in self._store.following(entry.chat_id):
            if state.id == entry.source_id:
                return state.spec.url
        return "?"

    async def _chat_languages(self, chat_id: int) -> tuple[str, list[str]]:
        """The chat's digest languages; the first is also the language of its notices."""
        stored = await asyncio.to_thread(self._svc.store.chat_languages, chat_id)
        languages = stored or list(self._svc.settings.output.languages)
        return languages[0], languages


def _day(published: float | None) -> date:
    if published is None:
        return datetime.now(UTC).date()
    return datetime.fromtimestamp(published, UTC).date()
