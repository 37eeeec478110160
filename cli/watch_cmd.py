"""``briefing-digest watch SOURCE... --out DIR``: follow sources, digest new items into files.

State (seen items, validators, the previous briefing per source) lives in
``DIR/.briefing-digest-watch.sqlite3``, the same store the bot keeps in its data directory.
A SOURCE is a feed URL, or a listing page's URL and the pattern of its transcript links in
one argument: ``"https://example.org/briefings/ /briefings/2026-"``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cli.batch_cmd import _formats, _positive
from cli.errors import CliError
from cli.options import add_digest_options, check_engine, settings_from
from digest.changes import mark_changes, record_of
from digest.errors import DigestError
from digest.ingest import read_bytes
from digest.pipeline import Pipeline
from digest.render import EXTENSIONS, render
from settings.schema import Settings
from sources.check import SafeFetcher
from sources.model import OutboxEntry, OutboxKind, SourceSpec, Subscription, capped_detail
from sources.parse import SourceFormatError, make_spec
from sources.runner import check_due, failures
from sources.safe_fetch import FetchError
from sources.schedule import IntervalError, interval_for
from sources.store import ItemDigest, SourceStore
from workers.compute import content_key

log = logging.getLogger(__name__)

STATE_FILE = ".briefing-digest-watch.sqlite3"
# The watch directory is one follower: "chat" 0 of the store.
WATCHER = 0
# Salt of the content hash that tells a re-published transcript from a new one.
CONTENT_SALT = "follow"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "watch", help="follow feeds and listing pages; digest new briefings into a folder"
    )
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help='feed URL, or "LISTING-URL PATTERN" (links containing PATTERN; * and ? are wildcards)',
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (keeps the state)")
    parser.add_argument("--once", action="store_true", help="check once and exit")
    parser.add_argument(
        "--backlog",
        type=_positive,
        default=1,
        help="items digested on a source's first check, newest first (default 1)",
    )
    parser.add_argument("--format", type=_formats, help="comma separated: md,json,html,txt")
    parser.add_argument(
        "--every",
        type=float,
        metavar="MINUTES",
        help="minutes between checks (default: [sources] check_interval_s)",
    )
    add_digest_options(parser)
    parser.set_defaults(handler=run)


@dataclass(frozen=True, slots=True)
class WatchOptions:
    out: Path
    languages: list[str]
    formats: list[str]
    engine: str | None
    backlog: int


def run(args: argparse.Namespace) -> int:
    from bot.follow_store import open_source_store

    check_engine(args.engine)
    settings = settings_from(args)
    if settings.fetch.allow_private_networks:
        print(
            "briefing-digest: warning: [fetch] allow_private_networks is on: sources may "
            "reach private and loopback addresses",
            file=sys.stderr,
        )
    specs = _specs(args.sources, args.every, settings)
    options = WatchOptions(
        out=args.out,
        languages=args.lang or list(settings.output.languages),
        formats=args.format or list(settings.output.formats),
        engine=args.engine,
        backlog=args.backlog,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    store = open_source_store(args.out / STATE_FILE)
    try:
        _subscribe(store, specs)
        watcher = Watcher(settings, store, options)
        if args.once:
            lines = watcher.once()
            for line in lines:
                print(f"briefing-digest: failed: {line}", file=sys.stderr)
            return 1 if lines else 0
        watcher.forever()
        return 0
    finally:
        store.close()


def _specs(raw: list[str], every: float | None, settings: Settings) -> list[SourceSpec]:
    try:
        interval = interval_for(every, settings.sources)
    except IntervalError as exc:
        raise CliError(f"--every: {exc}") from None
    specs = []
    for text in raw:
        url, _, pattern = text.strip().partition(" ")
        try:
            specs.append(make_spec(url, pattern.strip() or None, interval))
        except (FetchError, SourceFormatError) as exc:
            raise CliError(f"{text}: {exc}") from None
    return specs


def _subscribe(store: SourceStore, specs: list[SourceSpec]) -> None:
    """Follow exactly the sources given: ones given on an earlier run but not now are left."""
    wanted = {spec.id for spec in specs}
    for state in store.following(WATCHER):
        if state.id not in wanted:
            store.unfollow(WATCHER, state.id)
    for spec in specs:
        store.follow(spec, Subscription(WATCHER, spec.id), max_per_chat=len(specs))


class Watcher:
    def __init__(self, settings: Settings, store: SourceStore, options: WatchOptions) -> None:
        self._settings = settings
        self._store = store
        self._options = options
        self._fetcher = SafeFetcher(settings)
        self._owner = f"watch-{os.getpid()}"
        self._pipeline: Pipeline | None = None

    def once(self) -> list[str]:
        """Check every source now and digest what is new; one line per failure."""
        return asyncio.run(self._round(everything=True))

    def forever(self) -> None:
        while True:
            for line in asyncio.run(self._round(everything=False)):
                print(f"briefing-digest: failed: {line}", file=sys.stderr)
            due = [s.next_check for s in self._store.following(WATCHER)]
            # Woken at the next due check, and at least once a minute (new state on disk).
            time.sleep(max(1.0, min(60.0, min(due, default=time.time() + 60) - time.time())))

    async def _round(self, *, everything: bool) -> list[str]:
        checked = await check_due(
            self._store,
            self._fetcher,
            self._settings.sources,
            self._owner,
            time.time(),
            backlog=self._options.backlog,
            everything=everything,
        )
        lines = failures(checked)
        for entry in self._store.outbox(1000):
            if entry.chat_id != WATCHER:
                continue
            problem = await self._handle(entry)
            if problem:
                lines.append(problem)
            self._store.done(entry.id)
        return lines

    async def _handle(self, entry: OutboxEntry) -> str | None:
        if entry.kind is OutboxKind.ITEM and entry.item is not None:
            try:
                await self._digest(entry)
            except (FetchError, DigestError) as exc:
                return f"{entry.item.link}: {exc}"
            return None
        # Notices: the terminal is the follower.
        urls = {s.id: s.spec.url for s in self._store.following(WATCHER)}
        print(f"briefing-digest: {_notice(entry, urls.get(entry.source_id, '?'))}", file=sys.stderr)
        return None

    async def _digest(self, entry: OutboxEntry) -> None:
        item = entry.item
        assert item is not None
        if self._store.item_digest(entry.source_id, item) is not None:
            return  # written before a crash that came before the entry was done
        fetched = await self._fetcher.item(item.link)
        doc = read_bytes(fetched.data, fetched.name, self._settings.ingest)
        doc = replace(doc, name=item.link)
        key = content_key(CONTENT_SALT, doc.text)
        if self._store.is_duplicate(entry.source_id, key):
            log.info("%s repeats an earlier item's text: not digested", item.link)
            self._store.save_item_digest(entry.source_id, item, ItemDigest(None, key))
            return
        if self._pipeline is None:
            self._pipeline = Pipeline(self._settings)
        pipeline = self._pipeline
        opts = self._options
        digests = await asyncio.to_thread(pipeline.run, doc, opts.languages, opts.engine)
        digests = mark_changes(digests, self._store.previous_briefing(entry.source_id))
        stem = output_stem(item.link)
        for lang, digest in digests.items():
            for fmt in opts.formats:
                path = opts.out / f"{stem}.{lang}{EXTENSIONS[fmt]}"
                _write(path, render(digest, fmt, pipeline.resources))
        self._store.save_briefing(entry.source_id, record_of(digests, _day(item.published)))
        self._store.save_item_digest(entry.source_id, item, ItemDigest(stem, key))
        print(f"{item.link} -> {opts.out / stem}.*")


def output_stem(link: str) -> str:
    """A file name for an item: its host and path, made safe, and a short hash of the link
    (two items with the same last path segment do not overwrite each other)."""
    parts = urlsplit(link)
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{parts.hostname}{parts.path}").strip("-")
    return f"{readable[-60:].strip('-') or 'item'}-{hashlib.sha256(link.encode()).hexdigest()[:8]}"


def _write(path: Path, text: str) -> None:
    """Written whole or not at all: a reader never sees half a digest."""
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None


def _day(published: float | None) -> date:
    if published is None:
        return datetime.now(UTC).date()
    return datetime.fromtimestamp(published, UTC).date()


def _notice(entry: OutboxEntry, url: str) -> str:
    if entry.kind is OutboxKind.FAILING:
        return f"{url}: failing since a day or more: {entry.detail}"
    if entry.kind is OutboxKind.RECOVERED:
        return f"{url}: works again"
    skipped, truncated = capped_detail(entry.detail)
    parts = [f"{skipped} new item(s) skipped (more than are digested at once)"] if skipped else []
    if truncated:
        parts.append("the feed is over the size limit and only its start was read")
    return f"{url}: {'; '.join(parts)}"
