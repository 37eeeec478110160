"""End to end: twenty users at once, each gets their own digest; model work stays off the loop."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest.pipeline import Pipeline
from tests.bot_harness import (
    CountingEngine,
    RunningBot,
    bot_settings,
    digest_views,
    expected_parts,
    view_parts,
    wait_digests,
)
from tests.conftest import SAMPLES, SHARED_SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)
USERS = 20


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


def test_twenty_users_at_once_all_get_their_digest(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    sources = sorted(SAMPLES.glob("*.txt")) + sorted(SHARED_SAMPLES.glob("*.txt"))
    assert len(sources) >= 3
    texts = [p.read_text(encoding="utf-8") for p in sources]
    languages = ["en", "hi", "ru"]
    users = [FakeUser(1000 + i, language_code=languages[i % 3]) for i in range(USERS)]
    engine = CountingEngine(pipeline)
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        started = time.monotonic()
        for i, user in enumerate(users):
            api.user_message(user, texts[i % len(texts)])
        finals = {user.id: wait_digests(api, user.id, timeout=45)[0] for user in users}
        elapsed = time.monotonic() - started
        # Still responsive afterwards.
        api.user_message(users[0], "/status")
        api.wait_for(
            lambda: any(
                "nothing in the queue" in (m.text or "") for m in api.bot_messages(users[0].id)
            ),
            what="/status answer",
        )
    assert engine.calls == USERS
    # Model work ran in the worker threads, never more at once than there are workers.
    assert {t.rsplit("-", 1)[0] for t in engine.threads} == {"digest-worker"}
    assert engine.max_running <= settings.telegram.workers
    for i, user in enumerate(users):
        expected = expected_parts(pipeline, texts[i % len(texts)], languages[i % 3])
        assert [m.text for m in view_parts(api, finals[user.id], len(expected))] == expected, (
            user.id
        )
    print(f"{USERS} digests in {elapsed:.1f} s")


def test_twenty_users_at_once_through_dropped_connections_each_get_one_digest(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    text = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")
    users = [FakeUser(1100 + i) for i in range(USERS)]
    engine = CountingEngine(pipeline)
    settings = bot_settings(
        api,
        tmp_path,
        BRIEFING_DIGEST_TELEGRAM__API_RETRY_BACKOFF_S="0.1",
        BRIEFING_DIGEST_TELEGRAM__RETRY_BACKOFF_S="0.5",
    )
    with RunningBot(settings, api, engine):
        # Every tenth call or so, of any kind, loses its connection.
        api.fail(None, "drop", times=USERS // 2)
        for user in users:
            api.user_message(user, text)
        for user in users:
            wait_digests(api, user.id, timeout=45)
        # Once every job is recorded as ended, nothing more can arrive: count.
        api.wait_for(
            lambda: bot_jobs_done(tmp_path) == USERS, timeout=30, what="every job done"
        )
    assert len(api.failed) == USERS // 2
    assert engine.calls == USERS
    for user in users:
        assert len(digest_views(api, user.id)) == 1, user.id


def bot_jobs_done(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()
    return int(count)
