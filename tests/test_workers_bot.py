"""The bot with its digests made in the worker pool: limits, progress and /cancel end to end."""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import RunningBot, bot_settings, wait_digests, wait_reply
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.webhook_harness import WebhookBot, WebhookFakeApi, webhook_settings
from tests.workers_support import behaving_pipeline, failing_factory, wait_until
from workers import WorkerPool

pytestmark = pytest.mark.timeout(120)
PAD = " and some more words to make a briefing"


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def start_bot(
    api: FakeBotApi, tmp_path: Path
) -> Iterator[Callable[[float], tuple[RunningBot, WorkerPool]]]:
    """Starts the bot with a pool of two workers whose jobs have ``timeout`` seconds each."""
    with contextlib.ExitStack() as stack:

        def start_with(timeout: float) -> tuple[RunningBot, WorkerPool]:
            settings = bot_settings(
                api,
                tmp_path,
                BRIEFING_DIGEST_WORKERS__JOB_TIMEOUT_S=str(timeout),
                BRIEFING_DIGEST_WORKERS__JOB_MEMORY_MB="200",
                # A fresh worker's first digest loads the language profiles (seconds).
                BRIEFING_DIGEST_WORKERS__WARM_UP="true",
                BRIEFING_DIGEST_TELEGRAM__WORKERS="3",
            )
            pool = stack.enter_context(WorkerPool(settings, factory=behaving_pipeline, count=2))
            assert pool.wait_ready(60)
            return stack.enter_context(RunningBot(settings, api, digester=pool)), pool

        yield start_with


def test_limit_breaches_get_their_message_and_other_users_their_digest(
    api: FakeBotApi, start_bot: Callable[[float], tuple[RunningBot, WorkerPool]]
) -> None:
    _, pool = start_bot(5)
    slow, hog, normal = FakeUser(501), FakeUser(502), FakeUser(503, language_code="ru")
    api.user_message(slow, "SLEEP 60" + PAD)
    api.user_message(hog, "HOG" + PAD)
    api.user_message(normal, (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8"))
    too_slow = wait_reply(api, slow.id, "too large or too complex", timeout=60)
    assert too_slow.text == (
        "This briefing is too large or too complex to digest (limit: 5 s of processing time). "
        "Please send a shorter part of it."
    )
    too_big = wait_reply(api, hog.id, "too large or too complex", timeout=60)
    assert "(limit: 200 MB of memory)" in too_big.text
    wait_digests(api, normal.id, timeout=60)
    assert pool.wait_ready(60)  # both replaced
    stats = pool.stats()
    assert stats.time_limit == 1 and stats.memory_limit == 1 and stats.restarts == 2
    # Each was told once, and not retried: the job failed with its reason.
    assert len([m for m in api.bot_messages(slow.id) if "too complex" in (m.text or "")]) == 1


def test_progress_reaches_the_status_message(
    api: FakeBotApi, start_bot: Callable[[float], tuple[RunningBot, WorkerPool]]
) -> None:
    start_bot(30)
    user = FakeUser(504, language_code="en")
    api.user_message(user, "STEPS" + PAD)
    wait_digests(api, user.id, timeout=60)
    edits = [c.params["text"] for c in api.calls_of("editMessageText", user.id)]
    assert any("✓ Language: English" in e for e in edits)
    assert any("✓ Topics found:" in e for e in edits)


def test_cancel_reaches_the_running_job_in_its_worker(
    api: FakeBotApi, start_bot: Callable[[float], tuple[RunningBot, WorkerPool]]
) -> None:
    _, pool = start_bot(30)
    user = FakeUser(505)
    api.user_message(user, "TICK" + PAD)
    wait_until(lambda: pool.stats().busy == 1, 30, "the job to run in a worker")
    pids = pool.pids()
    api.user_message(user, "/cancel")
    wait_reply(api, user.id, "Dropped 1 queued or running")
    api.wait_for(
        lambda: [m.text for m in api.bot_messages(user.id)].count("Cancelled.") == 1,
        what="the running job cancelled",
    )
    wait_until(lambda: pool.stats().busy == 0, 30, "the worker to be free")
    stats: Any = pool.stats()
    assert stats.restarts == 0 and pool.pids() == pids  # stopped at a stage, not killed


def test_health_answers_fast_while_workers_are_busy_and_crashing(tmp_path: Path) -> None:
    with WebhookFakeApi() as api:
        settings = webhook_settings(
            api,
            tmp_path,
            BRIEFING_DIGEST_WORKERS__JOB_TIMEOUT_S="8",
            BRIEFING_DIGEST_WORKERS__MAX_RETRIES="1",
            BRIEFING_DIGEST_WORKERS__WARM_UP="true",
            BRIEFING_DIGEST_TELEGRAM__WORKERS="4",
        )
        pool = WorkerPool(settings, factory=behaving_pipeline, count=2)
        assert pool.wait_ready(60)
        users = [FakeUser(600 + i) for i in range(4)]
        texts = ["SLEEP 60", "SEGV", "SEGV", "STEPS"]
        with WebhookBot(settings, api, digester=pool) as bot:
            for user, text in zip(users, texts, strict=True):
                assert bot.post(api.update(user, text + PAD)).status_code == 200
            wait_until(lambda: pool.stats().busy == 2, 30, "both workers busy")
            timings = []
            # The bot shares this process with pytest and the fake API: a full collection of
            # that heap alone pauses the loop for 50-190 ms. Not what is measured here.
            gc.collect()
            gc.freeze()
            try:
                while pool.stats().crashes < 2 or pool.stats().time_limit < 1:
                    for path in ("/healthz", "/readyz"):
                        started = time.perf_counter()
                        answer = bot.client.get(bot.base + path)
                        timings.append(time.perf_counter() - started)
                        assert answer.status_code == 200, (path, answer.text)
                    # A probe every few milliseconds, not a busy loop: spinning here took a
                    # core (~7 s of CPU) from the workers and from tests running beside it.
                    time.sleep(0.005)
            finally:
                gc.unfreeze()
            wait_reply(api, users[0].id, "limit: 8 s of processing time", timeout=30)
            for user in users[1:3]:
                wait_reply(api, user.id, "Reference:", timeout=30)
            wait_digests(api, users[3].id, timeout=30)
        assert len(timings) > 20
        # The front end never waits on a digest: the typical answer takes milliseconds. The
        # bounds leave room for a shared CI machine's scheduler (the 100 ms figure is measured
        # by bench/worker_pool.py, not asserted here); a front end that ran digests itself
        # would stall for the length of one (seconds) and fail.
        slow = sorted(timings)[-3:]
        assert statistics.median(timings) < 0.05, statistics.median(timings)
        assert max(timings) < 2.0, slow


def test_readyz_fails_while_the_digest_workers_cannot_start(tmp_path: Path) -> None:
    with WebhookFakeApi() as api:
        settings = webhook_settings(api, tmp_path, BRIEFING_DIGEST_WORKERS__WARM_UP="false")
        pool = WorkerPool(settings, factory=failing_factory, count=1)
        with WebhookBot(settings, api, digester=pool) as bot:
            wait_until(lambda: bool(pool.broken), 60, "the pool to give up starting workers")
            answer = bot.client.get(bot.base + "/readyz")
            assert bot.client.get(bot.base + "/healthz").status_code == 200
    assert answer.status_code == 503
    assert "the digest workers cannot start" in answer.text
    assert "the model directory is missing" in answer.text
