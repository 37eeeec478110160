"""The bot with its digests made in the worker pool: limits, progress and /cancel end to end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, start, stop
from settings import Settings
from tests.bot_harness import POLL_TIMEOUT_S, RunningBot, bot_settings, wait_digests, wait_reply
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.workers_support import behaving_pipeline
from workers import WorkerPool

pytestmark = pytest.mark.timeout(120)
PAD = " and some more words to make a briefing"


class PoolBot(RunningBot):
    """The real Application, with the given pool as its digester."""

    def __init__(self, settings: Settings, api: FakeBotApi, pool: WorkerPool) -> None:
        super().__init__(settings, api, engine=None)
        self.pool = pool

    async def _serve(self) -> None:
        import asyncio

        self._stopping = asyncio.Event()
        self.app = build_application(self.settings, self.api.token, digester=self.pool)
        try:
            await start(self.app, poll_timeout=POLL_TIMEOUT_S)
            self._ready.set()
            await self._stopping.wait()
        finally:
            await stop(self.app, grace=10)


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def start_bot(
    api: FakeBotApi, tmp_path: Path
) -> Iterator[Callable[[float], tuple[PoolBot, WorkerPool]]]:
    """Starts the bot with a pool of two workers whose jobs have ``timeout`` seconds each."""
    with contextlib.ExitStack() as stack:

        def start_with(timeout: float) -> tuple[PoolBot, WorkerPool]:
            settings = bot_settings(
                api,
                tmp_path,
                BRIEFING_DIGEST_WORKERS__JOB_TIMEOUT_S=str(timeout),
                BRIEFING_DIGEST_WORKERS__JOB_MEMORY_MB="200",
                BRIEFING_DIGEST_WORKERS__WARM_UP="false",
                BRIEFING_DIGEST_TELEGRAM__WORKERS="3",
            )
            pool = stack.enter_context(WorkerPool(settings, factory=behaving_pipeline, count=2))
            assert pool.wait_ready(60)
            return stack.enter_context(PoolBot(settings, api, pool)), pool

        yield start_with


def test_limit_breaches_get_their_message_and_other_users_their_digest(
    api: FakeBotApi, start_bot: Callable[[float], tuple[PoolBot, WorkerPool]]
) -> None:
    _, pool = start_bot(2)
    slow, hog, normal = FakeUser(501), FakeUser(502), FakeUser(503, language_code="ru")
    api.user_message(slow, "SLEEP 60" + PAD)
    api.user_message(hog, "HOG" + PAD)
    api.user_message(normal, (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8"))
    too_slow = wait_reply(api, slow.id, "too large or too complex", timeout=60)
    assert too_slow.text == (
        "This briefing is too large or too complex to digest (limit: 2 s of processing time). "
        "Please send a shorter part of it."
    )
    too_big = wait_reply(api, hog.id, "too large or too complex", timeout=60)
    assert "(limit: 200 MB of memory)" in too_big.text
    wait_digests(api, normal.id, timeout=60)
    stats = pool.stats()
    assert stats.time_limit == 1 and stats.memory_limit == 1 and stats.restarts == 2
    # Each was told once, and not retried: the job failed with its reason.
    assert len([m for m in api.bot_messages(slow.id) if "too complex" in (m.text or "")]) == 1


def test_progress_reaches_the_status_message(
    api: FakeBotApi, start_bot: Callable[[float], tuple[PoolBot, WorkerPool]]
) -> None:
    start_bot(30)
    user = FakeUser(504, language_code="en")
    api.user_message(user, "STEPS" + PAD)
    wait_digests(api, user.id, timeout=60)
    edits = [c.params["text"] for c in api.calls_of("editMessageText", user.id)]
    assert any("✓ Language: English" in e for e in edits)
    assert any("✓ Topics found:" in e for e in edits)


def test_cancel_reaches_the_running_job_in_its_worker(
    api: FakeBotApi, start_bot: Callable[[float], tuple[PoolBot, WorkerPool]]
) -> None:
    _, pool = start_bot(30)
    user = FakeUser(505)
    api.user_message(user, "TICK" + PAD)
    api.wait_for(lambda: pool.stats().busy == 1, what="the job to run in a worker")
    pids = pool.pids()
    api.user_message(user, "/cancel")
    wait_reply(api, user.id, "Dropped 1 queued or running")
    api.wait_for(
        lambda: [m.text for m in api.bot_messages(user.id)].count("Cancelled.") == 1,
        what="the running job cancelled",
    )
    api.wait_for(lambda: pool.stats().busy == 0, what="the worker to be free")
    stats: Any = pool.stats()
    assert stats.restarts == 0 and pool.pids() == pids  # stopped at a stage, not killed
