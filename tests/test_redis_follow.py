"""/follow in ``[queue] backend = "redis"``: front ends sharing sources on a real redis-server.

The store's contract (both stores) is tests/test_sources.py. Here: two front ends' stores
check a source once and deliver its outbox once; a stopped front end hands its sources on;
and the real bot, two front ends and a worker, posts each new briefing once, in each chat's
language, across a restart while Telegram refuses posts.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from bot.redis_follow import follow_digest
from bot.redis_worker import serve_worker
from digest.errors import DigestError
from settings import Settings, load_settings
from sources.check import SafeFetcher, check_source
from sources.model import OutboxKind, SourceSpec, Subscription
from sources.redis_store import RedisSourceStore
from tests.bot_harness import RunningBot, bot_settings, wait_digests, wait_reply
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.feed_site import EVAL, SAMPLES, FeedSite, rss, transcript
from tests.redis_server import RedisServer
from workers import BytesSource, DigestRequest
from workers.errors import LimitExceededError, LimitKind

pytestmark = pytest.mark.timeout(120)

TOKEN = "123456:" + "A" * 35
ALICE = FakeUser(11, "Alice", "en")
BORIS = FakeUser(12, "Boris", "ru")
TRANSCRIPTS = [
    EVAL / "composed-hi-4.en.txt",
    EVAL / "composed-hi-2.en.txt",
    SAMPLES / "en_briefing.txt",
]
DATES = [
    "Mon, 24 Nov 2026 10:00:00 GMT",
    "Fri, 28 Nov 2026 10:00:00 GMT",
    "Sun, 30 Nov 2026 10:00:00 GMT",
]


@pytest.fixture()
def site() -> Iterator[FeedSite]:
    with FeedSite() as running:
        for i, path in enumerate(TRANSCRIPTS):
            running.set(f"/b{i}.txt", transcript(path))
        yield running


def _publish(site: FeedSite, count: int) -> None:
    items = [(f"g{i}", site.url(f"/b{i}.txt"), f"Briefing {i}", DATES[i]) for i in range(count)]
    site.set("/feed.xml", rss(list(reversed(items))))


def _settings() -> Settings:
    return load_settings(environ={"BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS": "true"})


def _front_end(server: RedisServer, owner: str, lease_s: float = 60.0) -> RedisSourceStore:
    return RedisSourceStore(redis.Redis.from_url(server.url), "bot", owner, lease_s)


def api_wait(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _check(store: RedisSourceStore, owner: str, settings: Settings, now: float) -> int:
    """One front end's round of checks; how many sources it fetched."""
    due = store.claim_due(now, owner, settings.sources.lease_s, 10)
    for state in due:
        record = asyncio.run(
            check_source(
                state,
                SafeFetcher(settings),
                lambda keys, s=state: store.seen(s.id, keys),
                settings.sources,
                now,
            )
        )
        store.record_check(record, owner)
    return len(due)


def test_two_front_ends_fetch_a_source_once_and_deliver_it_once(
    site: FeedSite, redis_server: RedisServer
) -> None:
    settings = _settings()
    _publish(site, 2)
    # a's delivery lease lives 0.6 s unless refreshed.
    a, b = _front_end(redis_server, "a", 0.6), _front_end(redis_server, "b")
    spec = SourceSpec(site.url("/feed.xml"), None, 60.0)
    for chat in (1, 2):
        a.follow(spec, Subscription(chat, spec.id), 20)
    # Eight front ends' rounds at once (a, b and six more): one of them fetches the source.
    others = [_front_end(redis_server, f"x{i}") for i in range(6)]
    fronts = [(a, "a"), (b, "b"), *((store, f"x{i}") for i, store in enumerate(others))]
    with ThreadPoolExecutor(len(fronts)) as pool:
        checked = list(pool.map(lambda f: _check(f[0], f[1], settings, 10.0), fronts))
    assert sum(checked) == 1 and site.hits["/feed.xml"] == 1
    for store in others:
        store.close()
    # The outbox goes to one front end: the first that looks holds the source's delivery.
    held_at = time.monotonic()
    entries = a.outbox(10)
    assert [(e.kind, e.chat_id) for e in entries] == [(OutboxKind.ITEM, 1), (OutboxKind.ITEM, 2)]
    assert b.outbox(10) == []
    a.done(entries[0].id)
    # a keeps the source while it lives, past the lease's time to live (its thread refreshes
    # it): b gets nothing of it meanwhile.
    key = "bot:follow:deliver:" + spec.id
    client = redis.Redis.from_url(redis_server.url)
    first_ttl = client.pttl(key)
    assert 0 < first_ttl <= 600
    # Refreshed: its TTL goes up between two readings (it only runs down otherwise). Not
    # "above the first reading": that one may have been taken just after a refresh (600 ms),
    # and no later reading can exceed it.
    last = [first_ttl]

    def ttl_went_up() -> bool:
        ttl, before = client.pttl(key), last[0]
        last[0] = ttl
        return ttl > before

    api_wait(ttl_went_up, what="the delivery lease refreshed")
    api_wait(lambda: time.monotonic() - held_at > 0.9, what="longer than the lease's TTL")
    assert client.get(key) == b"a" and b.outbox(10) == []
    # Front end a stops before the second post: b takes over at once, and only what is left.
    a.close()
    [left] = b.outbox(10)
    assert (left.id, left.chat_id) == (entries[1].id, 2)
    b.done(left.id)
    assert b.outbox(10) == []
    # A restarted front end finds everything where it was: subscriptions, state, seen items.
    restarted = _front_end(redis_server, "c")
    [state] = restarted.following(2)
    assert state.initialised and state.newest is not None
    assert state.newest.link == site.url("/b1.txt")
    # Feed GUIDs are resolved against the feed's URL.
    keys = [site.url(f"/g{i}") for i in (0, 1, 9)]
    assert restarted.seen(spec.id, keys) == set(keys[:2])
    assert _check(restarted, "c", settings, state.next_check) == 1
    assert restarted.outbox(10) == []  # nothing new: nothing owed twice
    for store in (b, restarted):
        store.close()


def test_two_redis_front_ends_and_a_worker_post_each_briefing_once(
    site: FeedSite, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The real bot: two polling front ends and a worker on one Redis. Each chat gets each
    new briefing once, in its language, digested once; a restart of the front ends while
    Telegram refuses posts loses none and doubles none."""
    _publish(site, 2)
    with FakeBotApi(token=TOKEN) as api:

        def conf(name: str) -> Settings:
            return bot_settings(
                api,
                tmp_path / name,
                BRIEFING_DIGEST_QUEUE__BACKEND="redis",
                BRIEFING_DIGEST_QUEUE__REDIS_URL=redis_server.url,
                BRIEFING_DIGEST_WORKERS__COUNT="1",
                BRIEFING_DIGEST_FETCH__ALLOW_PRIVATE_NETWORKS="true",
                BRIEFING_DIGEST_SOURCES__CHECK_INTERVAL_S="1",
                BRIEFING_DIGEST_SOURCES__MIN_INTERVAL_S="0.5",
                BRIEFING_DIGEST_SOURCES__POLL_EVERY_S="0.2",
                BRIEFING_DIGEST_TELEGRAM__API_RETRY_S="0",
            )

        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        worker = threading.Thread(
            target=loop.run_until_complete,
            args=(serve_worker(conf("worker"), TOKEN, stop=stop),),
            daemon=True,
        )
        worker.start()
        feed = site.url("/feed.xml")
        try:
            with RunningBot(conf("a"), api, engine=None), RunningBot(conf("b"), api, engine=None):
                api.user_message(ALICE, f"/follow {feed}")
                wait_reply(api, ALICE.id, f"Following {feed}")
                wait_digests(api, ALICE.id, 1, timeout=60)
                api.user_message(BORIS, f"/follow {feed}")
                wait_reply(api, BORIS.id, f"Подписка на {feed} оформлена")
                wait_digests(api, BORIS.id, 1, timeout=30)
                # Only the newest of the backlog; fetched (and digested) once for both.
                assert site.hits["/b1.txt"] == 1 and site.hits["/b0.txt"] == 0
                api.fail("sendMessage", times=10_000)
                _publish(site, 3)
                api.wait_for(
                    lambda: any(method == "sendMessage" for method, _ in api.failed),
                    timeout=60,
                    what="a post held back",
                )
            api.faults.clear()
            with RunningBot(conf("a"), api, engine=None):
                wait_digests(api, ALICE.id, 2, timeout=60)
                wait_digests(api, BORIS.id, 2, timeout=60)
                assert "New since 28 Nov" in "\n".join(
                    m.text or "" for m in api.bot_messages(ALICE.id)
                )
                assert site.hits["/b2.txt"] == 1
        finally:
            loop.call_soon_threadsafe(stop.set)
            worker.join(60)
        assert not worker.is_alive()
        # Each chat got each briefing once, across two front ends and a restart.
        assert len(wait_digests(api, ALICE.id, 2)) == 2
        assert len(wait_digests(api, BORIS.id, 2)) == 2


class _OverLimitPool:
    def submit(self, request: DigestRequest) -> Future[object]:
        failed: Future[object] = Future()
        failed.set_exception(LimitExceededError(LimitKind.MEMORY, 512))
        return failed


def test_a_follow_digest_over_its_limit_comes_back_as_a_readable_digest_error() -> None:
    """arq pickles the worker's exception; the front end must be able to read it, or the
    item would be tried again every round instead of its followers being told."""
    request = DigestRequest(BytesSource(b"text", "a.txt"), ("en",), formats=())
    with pytest.raises(DigestError) as raised:
        asyncio.run(follow_digest({"pool": _OverLimitPool()}, request))
    back = pickle.loads(pickle.dumps(raised.value))
    assert type(back) is DigestError and "512 MB of memory" in str(back)
