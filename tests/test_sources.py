"""Followed sources against a real HTTP server: feeds, listings, 304, failures, limits, store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from enum import StrEnum
from pathlib import Path

import pytest
import redis

from bot.follow_store import open_source_store
from settings import Settings, load_settings
from sources.check import SafeFetcher, check_source
from sources.model import (
    AddOutcome,
    CheckRecord,
    Health,
    OutboxKind,
    SourceSpec,
    SourceState,
    Subscription,
)
from sources.redis_store import RedisSourceStore
from sources.schedule import IntervalError, interval_for
from sources.store import SourceStore
from tests.feed_site import FeedSite, Page, atom, listing, rss
from tests.redis_server import RedisServer

pytestmark = pytest.mark.timeout(60)


class StoreBackend(StrEnum):
    SQLITE = "sqlite"
    REDIS = "redis"

DATES = [
    "Mon, 24 Nov 2026 10:00:00 GMT",
    "Thu, 27 Nov 2026 10:00:00 GMT",
    "Fri, 28 Nov 2026 10:00:00 GMT",
    "Sun, 30 Nov 2026 10:00:00 GMT",
]


def _settings(**env: str) -> Settings:
    base = {"BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS": "true"}
    return load_settings(environ={**base, **{f"BRIEFING_DIGEST_{k}": v for k, v in env.items()}})


@pytest.fixture()
def site() -> Iterator[FeedSite]:
    with FeedSite() as running:
        yield running


@pytest.fixture(params=[StoreBackend.SQLITE, StoreBackend.REDIS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceStore]:
    """Every store test runs on both stores: the SQLite file and a real redis-server."""
    if request.param is StoreBackend.SQLITE:
        opened: SourceStore = open_source_store(tmp_path / "bot.sqlite3")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        opened = RedisSourceStore(redis.Redis.from_url(server.url), "test", "front-a")
    yield opened
    opened.close()


def _check(store: SourceStore, settings: Settings, now: float, owner: str = "a") -> int:
    """Check every due source once, as a front end does; returns how many were checked."""
    due = store.claim_due(now, owner, settings.sources.lease_s, 10)
    fetcher = SafeFetcher(settings)
    for state in due:
        record = asyncio.run(
            check_source(
                state, fetcher, lambda keys, s=state: store.seen(s.id, keys), settings.sources, now
            )
        )
        store.record_check(record, owner)
    return len(due)


def _owed(store: SourceStore) -> list[tuple[str, int, str]]:
    """(kind, chat, item link or detail) owed, and cleared."""
    entries = store.outbox(100)
    for entry in entries:
        store.done(entry.id)
    return [(e.kind.value, e.chat_id, e.item.link if e.item else e.detail) for e in entries]


def _feed(site: FeedSite, count: int, *, title: str = "Briefing") -> None:
    items = [(f"guid-{i}", site.url(f"/b{i}"), f"{title} {i}", DATES[i]) for i in range(count)]
    site.set("/feed.xml", rss(list(reversed(items))))


def test_a_feed_posts_the_newest_first_then_only_new_items_with_304s_between(
    site: FeedSite, store: SourceStore
) -> None:
    settings = _settings()
    _feed(site, 3)
    spec = SourceSpec(site.url("/feed.xml"), None, 60.0)
    assert store.follow(spec, Subscription(1, spec.id), 20) is AddOutcome.ADDED
    assert store.follow(spec, Subscription(1, spec.id), 20) is AddOutcome.ALREADY
    assert _check(store, settings, now=1000.0) == 1
    # A first subscription: only the newest item, not the backlog.
    assert _owed(store) == [("item", 1, site.url("/b2"))]
    # Not due yet: nothing fetched.
    assert _check(store, settings, now=1030.0) == 0
    assert _check(store, settings, now=1061.0) == 1
    assert site.not_modified["/feed.xml"] == 1 and _owed(store) == []
    _feed(site, 4)
    _check(store, settings, now=1200.0)
    assert _owed(store) == [("item", 1, site.url("/b3"))]
    # An edited item (same GUID, new title) and a removed one: nothing owed.
    items = [
        ("guid-3", site.url("/b3"), "Briefing 3 (corrected)", DATES[3]),
        ("guid-1", site.url("/b1"), "Briefing 1", DATES[1]),
    ]
    site.set("/feed.xml", rss(items))
    _check(store, settings, now=1300.0)
    assert _owed(store) == []
    [state] = store.following(1)
    assert state.newest is not None and state.newest.title == "Briefing 3 (corrected)"
    assert state.health is Health.OK and state.last_check == 1300.0


def test_an_atom_feed_is_read_by_date_whatever_its_order(
    site: FeedSite, store: SourceStore
) -> None:
    entries = [
        ("urn:1", site.url("/a1"), "One", "2026-11-20T10:00:00Z"),
        ("urn:3", site.url("/a3"), "Three", "2026-11-29T10:00:00Z"),
        ("urn:2", site.url("/a2"), "Two", "2026-11-25T10:00:00Z"),
    ]
    site.set("/atom", atom(entries))
    spec = SourceSpec(site.url("/atom"), None, 60.0)
    store.follow(spec, Subscription(5, spec.id), 20)
    _check(store, _settings(), now=10.0)
    assert _owed(store) == [("item", 5, site.url("/a3"))]


def test_a_listing_page_gives_the_links_matching_the_pattern(
    site: FeedSite, store: SourceStore
) -> None:
    settings = _settings()
    links = [
        ("/briefings/", "All briefings"),  # the page itself, in its menu
        ("/briefings/2026-11-28.html", "Briefing of 28 November"),
        ("/briefings/2026-11-21.html", "Briefing of 21 November"),
        ("/about", "About us"),
    ]
    site.set("/briefings/", listing(links))
    spec = SourceSpec(site.url("/briefings/"), "/briefings/", 60.0)
    store.follow(spec, Subscription(7, spec.id), 20)
    _check(store, settings, now=10.0)
    assert _owed(store) == [("item", 7, site.url("/briefings/2026-11-28.html"))]
    site.set("/briefings/", listing([("/briefings/2026-11-30.html#top", "30 Nov"), *links]))
    _check(store, settings, now=100.0)
    assert _owed(store) == [("item", 7, site.url("/briefings/2026-11-30.html"))]


def test_a_web_page_without_a_pattern_is_refused_with_one_line(
    site: FeedSite, store: SourceStore
) -> None:
    site.set("/page", listing([("/x", "x")]))
    spec = SourceSpec(site.url("/page"), None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    _check(store, _settings(), now=10.0)
    [state] = store.following(1)
    assert state.last_error == (
        f"{site.url('/page')} is a web page, not a feed: give the pattern of its transcript "
        "links after the address"
    )


def test_failures_back_off_and_followers_are_told_once_then_of_the_recovery(
    site: FeedSite, store: SourceStore
) -> None:
    settings = _settings(
        SOURCES__MIN_INTERVAL_S="1",
        SOURCES__MAX_BACKOFF_S="500",
        SOURCES__FAILING_NOTICE_AFTER_S="1000",
    )
    _feed(site, 1)
    spec = SourceSpec(site.url("/feed.xml"), None, 100.0)
    for chat in (1, 2):
        store.follow(spec, Subscription(chat, spec.id), 20)
    _check(store, settings, now=0.0)
    assert len(_owed(store)) == 2
    site.set("/feed.xml", Page(b"down", status=500))
    waits, now = [], 100.0
    while now < 2000.0:
        assert _check(store, settings, now=now) == 1
        [state] = store.following(1)
        waits.append(state.next_check - now)
        now = state.next_check
        if state.health is Health.DOWN:
            break
    assert waits[:4] == [100.0, 200.0, 400.0, 500.0]  # doubling, capped at max_backoff_s
    assert state.last_error == "the server answered HTTP 500"
    assert _owed(store) == [
        ("failing", 1, "the server answered HTTP 500"),
        ("failing", 2, "the server answered HTTP 500"),
    ]
    _check(store, settings, now=now)
    assert _owed(store) == []  # told once
    _feed(site, 1)
    [state] = store.following(1)
    _check(store, settings, now=state.next_check)
    assert [kind for kind, _, _ in _owed(store)] == ["recovered", "recovered"]
    [state] = store.following(1)
    assert state.health is Health.OK and state.failures == 0


def test_a_slow_source_fails_with_the_time_limit(site: FeedSite, store: SourceStore) -> None:
    settings = _settings(SOURCES__FETCH_TIMEOUT_S="0.5")
    site.set("/slow", Page(b"<rss/>", "application/rss+xml", delay=10))
    spec = SourceSpec(site.url("/slow"), None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    _check(store, settings, now=1.0)
    [state] = store.following(1)
    assert state.last_error == "no answer within 0.5 s" and state.failures == 1


def test_an_oversized_feed_is_read_up_to_the_limit_and_new_items_are_capped(
    site: FeedSite, store: SourceStore
) -> None:
    settings = _settings(SOURCES__MAX_FEED_BYTES="3000", SOURCES__MAX_NEW_ITEMS="2")
    spec = SourceSpec(site.url("/feed.xml"), None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    _feed(site, 1)
    _check(store, settings, now=0.0)
    _owed(store)
    many = [(f"new-{i}", site.url(f"/n{i}"), f"New {i}", DATES[3]) for i in range(60)]
    page = rss(many)
    assert len(page.body) > 3000
    site.set("/feed.xml", page)
    _check(store, settings, now=100.0)
    owed = _owed(store)
    assert [kind for kind, _, _ in owed] == ["item", "item", "capped"]
    detail = json.loads(owed[-1][2])
    assert detail["truncated"] is True and detail["skipped"] > 0
    # The feed was cut at 3,000 bytes: only the items in that part were seen.
    assert detail["skipped"] + 2 < 60


def test_private_addresses_are_refused_unless_allowed(
    site: FeedSite, store: SourceStore
) -> None:
    _feed(site, 1)
    spec = SourceSpec(site.url("/feed.xml"), None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    _check(store, load_settings(environ={}), now=0.0)
    [state] = store.following(1)
    assert state.last_error == "127.0.0.1 leads to a non-public address"
    assert site.hits["/feed.xml"] == 0


def test_one_fetch_per_source_for_all_its_followers_and_one_front_end_per_check(
    site: FeedSite, store: SourceStore, tmp_path: Path
) -> None:
    settings = _settings()
    _feed(site, 2)
    shared = SourceSpec(site.url("/feed.xml"), None, 60.0)
    for chat in (1, 2, -100):
        store.follow(shared, Subscription(chat, shared.id, added_by=9), 20)
    # A second front end on the same file sees the lease and leaves the source alone.
    other = open_source_store(tmp_path / "bot.sqlite3")
    try:
        claimed = store.claim_due(0.0, "front-a", 300.0, 10)
        assert [s.id for s in claimed] == [shared.id]
        assert other.claim_due(0.0, "front-b", 300.0, 10) == []
        fetcher = SafeFetcher(settings)
        record = asyncio.run(
            check_source(
                claimed[0], fetcher, lambda k: store.seen(shared.id, k), settings.sources, 0.0
            )
        )
        store.record_check(record, "front-a")
    finally:
        other.close()
    assert site.hits["/feed.xml"] == 1
    assert sorted(chat for _, chat, _ in _owed(store)) == [-100, 1, 2]
    # A chat that follows later gets the newest item only, without a fetch.
    store.follow(shared, Subscription(3, shared.id), 20)
    assert _owed(store) == [("item", 3, site.url("/b1"))]
    assert site.hits["/feed.xml"] == 1
    assert store.followers(shared.id) == [1, 2, -100, 3]


def test_unfollowing_the_last_follower_forgets_the_source(store: SourceStore) -> None:
    spec = SourceSpec("https://example.org/feed", None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    assert store.unfollow(1, spec.id) is True
    assert store.unfollow(1, spec.id) is False
    assert store.claim_due(10**10, "a", 1.0, 10) == []


def test_a_chat_may_follow_at_most_max_per_chat(store: SourceStore) -> None:
    for i in range(3):
        spec = SourceSpec(f"https://example.org/{i}", None, 60.0)
        outcome = store.follow(spec, Subscription(1, spec.id), 2)
        assert outcome is (AddOutcome.LIMIT if i == 2 else AddOutcome.ADDED)


def test_intervals_outside_the_limits_are_refused_naming_the_limit() -> None:
    limits = load_settings(environ={}).sources
    assert interval_for(None, limits) == 1800.0
    assert interval_for(60, limits) == 3600.0
    with pytest.raises(IntervalError, match="at most every 5 min"):
        interval_for(1, limits)
    with pytest.raises(IntervalError, match="at least every 1440 min"):
        interval_for(100_000, limits)


def test_outbox_kinds_and_states_are_enums() -> None:
    state = SourceState(SourceSpec("https://example.org/f"))
    assert state.health is Health.OK and OutboxKind("capped") is OutboxKind.CAPPED


def test_a_check_of_everything_takes_sources_not_due_but_never_ones_leased_elsewhere(
    store: SourceStore,
) -> None:
    spec = SourceSpec("https://example.org/feed", None, 60.0)
    store.follow(spec, Subscription(1, spec.id), 20)
    [state] = store.claim_due(100.0, "a", 300.0, 10)
    store.record_check(CheckRecord(replace(state, next_check=1000.0)), "a")
    assert store.claim_due(200.0, "a", 300.0, 10) == []
    assert [s.id for s in store.claim_due(200.0, "a", 300.0, 10, everything=True)] == [spec.id]
    # Leased to "a" until 500: "b" may not take it, due or not, until the lease ends.
    assert store.claim_due(400.0, "b", 300.0, 10, everything=True) == []
    assert [s.id for s in store.claim_due(500.0, "b", 300.0, 10, everything=True)] == [spec.id]
