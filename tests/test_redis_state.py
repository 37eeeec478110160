"""The Redis implementations of the bot's stores, each against a real ``redis-server``: what
two front ends (two clients) sharing one Redis must see. The whole system (front ends, workers,
kill -9, SIGTERM) is tests/test_redis_scale_out.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from arq.constants import job_key_prefix
from telegram import Bot, Message

from bot.gather import Paste
from bot.jobs import Job, Outcome, QueueFullError, Source, new_job_id
from bot.redis_gather import RedisPasteGatherer
from bot.redis_keys import Keys, async_client, sync_client
from bot.redis_ledger import RedisUpdateLedger
from bot.redis_queue import AttemptVerdict, RedisJobQueue
from bot.redis_ratelimit import RedisRateLimiter
from bot.redis_store import RedisStore
from bot.redis_worker import serve_worker
from bot.rendering import RenderedDigest
from bot.testing.fake_bot_api import FakeBotApi, FakeUser
from settings import Settings, load_settings
from tests.bot_harness import (
    RunningBot,
    bot_settings,
    current_language,
    view_id,
    wait_digests,
    wait_reply,
)
from tests.conftest import SAMPLES
from tests.redis_server import RedisServer

TOKEN = "123456:" + "A" * 35


@pytest.fixture
def conf(redis_server: RedisServer) -> Settings:
    return load_settings(
        environ={
            "BRIEFING_DIGEST_QUEUE__BACKEND": "redis",
            "BRIEFING_DIGEST_QUEUE__REDIS_URL": redis_server.url,
        }
    )


@pytest.fixture
def client(conf: Settings) -> Iterator[redis.Redis]:
    c = sync_client(conf.queue)
    yield c
    c.close()


def job_for(user_id: int, *update_ids: int) -> Job:
    return Job(
        id=new_job_id(),
        user_id=user_id,
        chat_id=user_id,
        source=Source("text", "some text"),
        languages=("en",),
        ui_language="en",
        update_ids=update_ids,
    )


def test_an_update_becomes_one_job_however_often_it_is_submitted(
    conf: Settings, client: redis.Redis
) -> None:
    keys = Keys.of(conf)
    front_a = RedisJobQueue(client, keys, max_waiting=2)
    front_b = RedisJobQueue(sync_client(conf.queue), keys, max_waiting=2)
    first = job_for(1, 10, 11)
    assert front_a.submit(first) == 1
    # The same updates handled again on the other front end: no second job, its place.
    assert front_b.submit(job_for(1, 11)) == 1
    assert client.zrange(keys.arq_queue, 0, -1) == [first.id.encode()]
    assert client.exists(job_key_prefix + first.id)
    # The updates it answers are done, in the same script.
    assert client.hget(keys.update(10), "state") == b"done"
    assert front_b.submit(job_for(2, 12)) == 2
    with pytest.raises(QueueFullError):
        front_a.submit(job_for(3, 13))
    assert client.zcard(keys.arq_queue) == 2
    assert client.get(keys.update_job(13)) is None


def test_one_running_job_per_user_counted_attempts_and_cancel(
    conf: Settings, client: redis.Redis
) -> None:
    keys = Keys.of(conf)
    queue = RedisJobQueue(client, keys, max_waiting=10)
    older, newer, other = job_for(1, 1), job_for(1, 2), job_for(2, 3)
    for job in (older, newer, other):
        queue.submit(job)
    # The newer job waits for the older one of the same user; another user's runs.
    assert queue.begin_attempt(newer, 60_000, 3) is AttemptVerdict.BUSY
    assert queue.begin_attempt(older, 60_000, 3) is AttemptVerdict.RUN
    assert older.attempts == 1
    assert queue.begin_attempt(newer, 60_000, 3) is AttemptVerdict.BUSY
    assert queue.begin_attempt(other, 60_000, 3) is AttemptVerdict.RUN
    assert queue.position(1) == 0
    # /cancel: the waiting job leaves arq's queue; the running one gets its flag.
    cancellation = queue.cancel(1)
    assert [j.id for j in cancellation.waiting] == [newer.id]
    assert cancellation.running is not None and cancellation.running.id == older.id
    assert queue.cancel_requested(older.id)
    assert client.zscore(keys.arq_queue, newer.id) is None
    assert queue.begin_attempt(newer, 60_000, 3) is AttemptVerdict.FINISHED
    queue.finish(older, Outcome.CANCELLED)
    assert queue.position(1) is None
    # A job whose worker died twice (the user's slot expired with its lease): counted.
    queue.requeue(other, uncharge=False)
    assert queue.begin_attempt(other, 60_000, 2) is AttemptVerdict.RUN
    assert other.attempts == 2
    queue.requeue(other, uncharge=False)
    assert queue.begin_attempt(other, 60_000, 2) is AttemptVerdict.EXHAUSTED


def test_two_front_ends_never_handle_one_update_twice(conf: Settings) -> None:
    keys = Keys.of(conf)

    async def scenario() -> None:
        a = RedisUpdateLedger(async_client(conf.queue), keys)
        b = RedisUpdateLedger(async_client(conf.queue), keys)
        # Stored by the webhook of A: B neither stores nor handles it again.
        assert await a.store(1, '{"update_id": 1}')
        assert not await b.store(1, '{"update_id": 1}')
        assert not await b.begin(1, lambda: '{"update_id": 1}')
        assert await a.begin(1, lambda: "")
        await a.finish(1)
        assert not await b.begin(1, lambda: '{"update_id": 1}')
        # Polled by both (a redelivery): one claims it.
        claims = await asyncio.gather(
            a.begin(2, lambda: '{"update_id": 2}'), b.begin(2, lambda: '{"update_id": 2}')
        )
        assert sorted(claims) == [False, True]
        await (a if claims[0] else b).finish(2)
        # A front end stopped while handling update 3: the other one hands it on.
        assert await a.store(3, '{"update_id": 3}')
        assert await b.unfinished() == []
        await a.aclose()
        assert await b.unfinished() == [(3, '{"update_id": 3}')]
        assert await b.begin(3, lambda: "")
        await b.finish(3)
        assert await b.unfinished() == []
        await b.aclose()

    asyncio.run(scenario())


def test_the_rate_limit_is_one_for_all_front_ends(conf: Settings) -> None:
    keys = Keys.of(conf)

    async def scenario() -> None:
        a = RedisRateLimiter(async_client(conf.queue), keys, per_minute=2)
        b = RedisRateLimiter(async_client(conf.queue), keys, per_minute=2)
        waits = await asyncio.gather(a.take(5), b.take(5), a.take(5), b.take(5))
        assert sorted(w == 0 for w in waits) == [False, False, True, True]
        assert 59 < max(waits) <= 60
        await b.give_back(5)
        assert await a.take(5) == 0
        assert await a.take(6) == 0  # another user

    asyncio.run(scenario())


def test_lang_toggles_from_many_threads_lose_none(conf: Settings, client: redis.Redis) -> None:
    store = RedisStore(client, Keys.of(conf), 3600)
    barrier = threading.Barrier(2)

    def toggle(lang: str) -> None:
        barrier.wait()
        store.toggle_chat_language(9, lang, ["en"])

    threads = [threading.Thread(target=toggle, args=(lang,)) for lang in ("ru", "hi")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.chat_languages(9) == ["en", "hi", "ru"]
    store.set_chat_languages(9, ["ru"])
    assert store.toggle_chat_language(9, "ru", ["en"]) is None  # never none left
    digest = RenderedDigest("d1", "a.txt", "en", {})
    store.save_digest(digest, 9)
    assert store.digest("d1") == digest
    assert 3500 < client.ttl(Keys.of(conf).digest("d1")) <= 3600
    assert store.digest("missing") is None


def test_a_paste_split_over_two_front_ends_is_one_briefing(conf: Settings) -> None:
    keys = Keys.of(conf)
    user = FakeUser(77)
    with FakeBotApi(token=TOKEN) as api:
        parts = [api.user_message(user, text, push=False) for text in ("first part", "second")]

        async def scenario() -> list[Paste]:
            bot = Bot(TOKEN, base_url=api.base_url)
            flushed: list[Paste] = []
            got = asyncio.Event()

            async def flush(paste: Paste) -> None:
                flushed.append(paste)
                got.set()

            gatherers = [
                RedisPasteGatherer(async_client(conf.queue), keys, 0.3, flush, bot)
                for _ in range(2)
            ]
            for g in gatherers:
                g.start()
            for i, (g, stored) in enumerate(zip(gatherers, parts, strict=True)):
                message = Message.de_json(stored.data, bot)
                await g.add(message, stored.text or "", 100 + i)
                await g.add(message, stored.text or "", 100 + i)  # handled again: once
            await asyncio.wait_for(got.wait(), 10)
            # Taken whole, by one of them: nothing is left for a second flush.
            redis_client = async_client(conf.queue)
            assert await redis_client.zcard(keys.pastes) == 0
            assert not await redis_client.exists(keys.paste(user.id, user.id))
            await redis_client.aclose()
            for g in gatherers:
                await g.close()
            return flushed

        flushed = asyncio.run(scenario())
    assert len(flushed) == 1
    assert flushed[0].text == "first part\nsecond"
    assert sorted(flushed[0].update_ids) == [100, 101]


def test_a_polling_front_end_and_a_worker_share_digests_and_lang(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Polling on Redis: the front end queues, an in-process worker (serve_worker) digests and
    answers; the language buttons under the digest work on the front end, which finds the
    digest in Redis; /lang chosen on the front end is what the worker's digest follows."""
    with FakeBotApi(token=TOKEN) as api:
        settings = bot_settings(
            api,
            tmp_path,
            BRIEFING_DIGEST_QUEUE__BACKEND="redis",
            BRIEFING_DIGEST_QUEUE__REDIS_URL=redis_server.url,
            BRIEFING_DIGEST_WORKERS__COUNT="1",
        )
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        worker = threading.Thread(
            target=loop.run_until_complete,
            args=(serve_worker(settings, TOKEN, stop=stop),),
            daemon=True,
        )
        worker.start()
        user = FakeUser(4242)
        try:
            with RunningBot(settings, api, engine=None):
                api.user_message(user, "/lang")
                menu = wait_reply(api, user.id, "Choose the digest languages")
                api.press(user, menu, "l:ru")
                api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) == 1, what="tap")
                api.user_message(user, (SAMPLES / "en_briefing.txt").read_text("utf-8"))
                views = wait_digests(api, user.id, count=2, timeout=60)
                # en and ru chosen on the front end: the worker showed both, in that order.
                assert [current_language(v) for v in views] == ["en", "ru"]
                last = views[0]
                view = view_id(last)
                api.press(user, last, f"v:{view}:hi")
                api.wait_for(lambda: len(api.calls_of("answerCallbackQuery")) == 2, what="hi")
                assert current_language(api.messages[(user.id, last.message_id)]) == "hi"
        finally:
            loop.call_soon_threadsafe(stop.set)
            worker.join(60)
        assert not worker.is_alive()
    assert not any(
        "digest_gone" in str(call.params) or "no longer" in str(call.params)
        for call in api.calls_of("answerCallbackQuery")
    )


def test_readyz_says_when_redis_is_gone(redis_server: RedisServer, tmp_path: Path) -> None:
    """A Redis front end is not ready while it cannot read Redis, and ready again after."""
    from bot.app import readiness

    with FakeBotApi(token=TOKEN) as api:
        settings = bot_settings(
            api,
            tmp_path,
            BRIEFING_DIGEST_QUEUE__BACKEND="redis",
            BRIEFING_DIGEST_QUEUE__REDIS_URL=redis_server.url,
        )
        with RunningBot(settings, api, engine=None) as bot:
            api.wait_for(lambda: readiness(bot.app).ready, what="ready")
            redis_server.stop()

            def not_ready() -> tuple[str, ...] | None:
                answer = readiness(bot.app)
                return None if answer.ready else answer.reasons

            reasons = api.wait_for(not_ready, what="not ready")
            assert any("Redis" in reason for reason in reasons), reasons
