"""Telegram failing and the bot crashing: nothing acknowledged is lost, nothing is shown twice.

The real bot polls the fake Bot API (tests/fake_bot_api.py), which is made to answer 502 or
to drop connections for a while; the crash cases start the bot on a queue left as a
``kill -9`` at the worst moment leaves it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from telegram.ext import AIORateLimiter

from bot.durable_queue import QueueDatabase
from bot.jobs import Job, Source
from digest.ingest import read_bytes
from digest.pipeline import Pipeline
from tests.bot_harness import (
    CountingEngine,
    RunningBot,
    bot_settings,
    digest_views,
    wait_digests,
    wait_reply,
)
from tests.conftest import SAMPLES
from tests.fake_bot_api import RETRY_AFTER_S, FakeBotApi, FakeUser, StoredMessage

pytestmark = pytest.mark.timeout(120)
BRIEFING = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")
# Short retries, so that an outage outlasts one call's retries and the outer ones (the job's
# attempts, the update handled again) have to do their part too.
IMPATIENT = {
    "BRIEFING_DIGEST_TELEGRAM__API_RETRY_S": "1",
    "BRIEFING_DIGEST_TELEGRAM__API_RETRY_BACKOFF_S": "0.2",
    "BRIEFING_DIGEST_TELEGRAM__RETRY_BACKOFF_S": "0.5",
    "BRIEFING_DIGEST_TELEGRAM__MAX_ATTEMPTS": "10",
}


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def warm_pipeline(pipeline: Pipeline) -> Pipeline:
    pipeline.run(read_bytes(BRIEFING.encode(), "b.txt", 10_000_000), ["en"])
    return pipeline


def _until(probe: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _job_states(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT state FROM jobs ORDER BY seq")]


def _unfinished_updates(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        (count,) = db.execute("SELECT COUNT(*) FROM updates WHERE state = 'new'").fetchone()
    return int(count)


def _leftover_status(api: FakeBotApi, chat_id: int) -> list[StoredMessage]:
    """Status messages ("Got it", "Working") never replaced by a digest or an answer."""
    return [m for m in api.bot_messages(chat_id) if (m.text or "").startswith(("📥", "⏳"))]


def _send_all_kinds(api: FakeBotApi, users: list[FakeUser]) -> None:
    paste, document, command, short = users
    api.user_message(paste, BRIEFING)
    api.user_document(document, "briefing.txt", BRIEFING.encode("utf-8"))
    api.user_message(command, "/digest " + BRIEFING)
    api.user_message(short, "hello there")


def _assert_each_answered_once(api: FakeBotApi, data_dir: Path, users: list[FakeUser]) -> None:
    *briefed, short = users
    for user in briefed:
        wait_digests(api, user.id, timeout=60)
    wait_reply(api, short.id, "too short", timeout=60)
    # Settled: every job ended and every update done; only then count.
    _until(lambda: _job_states(data_dir) == ["done"] * 3, "three finished jobs")
    _until(lambda: _unfinished_updates(data_dir) == 0, "every update done")
    for user in briefed:
        assert len(digest_views(api, user.id)) == 1, user
        assert _leftover_status(api, user.id) == []
    replies = [m for m in api.bot_messages(short.id) if "too short" in (m.text or "")]
    assert len(replies) == 1


def test_briefings_sent_while_telegram_answers_502_each_get_one_digest(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    users = [FakeUser(701), FakeUser(702), FakeUser(703), FakeUser(704)]
    with RunningBot(bot_settings(api, tmp_path, **IMPATIENT), api, engine):
        api.fail("sendMessage", "502", seconds=5)
        _send_all_kinds(api, users)
        _assert_each_answered_once(api, tmp_path, users)
    assert ("sendMessage", "502") in api.failed
    assert engine.calls == 3


def test_briefings_survive_dropped_connections(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    users = [FakeUser(711), FakeUser(712), FakeUser(713), FakeUser(714)]
    with RunningBot(bot_settings(api, tmp_path, **IMPATIENT), api, engine):
        # Every kind of call: replies, status edits, the file download, the digest itself.
        api.fail(None, "drop", times=12)
        _send_all_kinds(api, users)
        _assert_each_answered_once(api, tmp_path, users)
    assert len(api.failed) == 12


def test_a_restart_reuses_the_status_message_of_an_interrupted_job(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(721)
    asked = api.user_message(user, BRIEFING, push=False)
    status = api.handle("sendMessage", {"chat_id": str(user.id), "text": "📥 Got it."}, {})
    # The state a kill -9 leaves behind while the job ran: stored, running, its status sent.
    db = QueueDatabase(tmp_path)
    job = Job(
        "a" * 32,
        user.id,
        user.id,
        Source("text", BRIEFING),
        ("en",),
        "en",
        reply_to_message_id=asked.message_id,
    )
    db.insert_job(job, 10)
    db.set_status_message(job.id, status["message_id"])
    assert db.take_job(10) is not None
    db.close()
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        (view,) = wait_digests(api, user.id)
        _until(lambda: _job_states(tmp_path) == ["done"], "the job finished")
    digest = [m for m in api.bot_messages(user.id) if m.parse_mode == "HTML"]
    # The digest took the place of the old status message; no second status message appeared.
    assert digest[0].message_id == status["message_id"]
    assert view in digest
    assert api.bot_messages(user.id) == digest
    assert engine.calls == 1


@pytest.mark.parametrize("delivery", ["delivering", "delivered"])
def test_a_rerun_after_a_crash_during_delivery_never_overwrites_the_digest(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path, delivery: str
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(731)
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        api.user_message(user, BRIEFING)
        wait_digests(api, user.id)
        _until(lambda: _job_states(tmp_path) == ["done"], "the job finished")
    shown = {m.message_id: m.text for m in api.bot_messages(user.id)}
    # kill -9 as the digest's edit reached Telegram: the row still says running.
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        db.execute("UPDATE jobs SET state = 'running', delivery = ?", (delivery,))
    calls_before = len(api.calls)
    with RunningBot(settings, api, engine):
        _until(lambda: _job_states(tmp_path) == ["done"], "the re-run finished")
    after = api.calls[calls_before:]
    assert not [c for c in after if "⏳" in c.params.get("text", "")]
    assert {m.message_id: m.text for m in api.bot_messages(user.id)} == shown
    assert len(digest_views(api, user.id)) == 1
    assert engine.calls == 1


CHINESE = (
    "外交部发言人今天主持例行记者会，介绍了近期双边关系的发展情况，并回答了记者关于地区安全、"
    "经济合作和气候变化谈判的提问。发言人表示，双方将继续加强沟通与协调。"
)
JAPANESE = (
    "外務報道官は本日の定例記者会見で、最近の二国間関係の進展について説明し、地域の安全保障や"
    "経済協力、気候変動交渉に関する記者からの質問に答えました。"
)


@pytest.mark.parametrize(("text", "code"), [(CHINESE, "zh-cn"), (JAPANESE, "ja")])
def test_a_paste_in_a_script_without_spaces_is_refused_for_its_language_not_its_length(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path, text: str, code: str
) -> None:
    user = FakeUser(741)
    with RunningBot(bot_settings(api, tmp_path), api, CountingEngine(warm_pipeline)):
        api.user_message(user, text)
        wait_reply(api, user.id, f"unsupported language: {code}")
    assert not [m for m in api.bot_messages(user.id) if "too short" in (m.text or "")]


def test_a_failed_file_button_still_answers_the_button(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(751)
    with RunningBot(bot_settings(api, tmp_path, **IMPATIENT), api, CountingEngine(warm_pipeline)):
        api.user_message(user, BRIEFING)
        (view,) = wait_digests(api, user.id)
        api.fail("sendDocument", "502", seconds=60)
        md = next(d for d in view.callback_data() if d.endswith(":md"))
        query_id = api.press(user, view, md)
        answer = api.wait_for(
            lambda: next(
                (
                    c
                    for c in api.calls_of("answerCallbackQuery")
                    if c.params.get("callback_query_id") == query_id
                ),
                None,
            ),
            what="the button answered",
        )
    assert "Reference:" in answer.params.get("text", "")
    assert answer.params.get("show_alert") == "true"
    assert ("sendDocument", "502") in api.failed


def test_flood_control_is_honoured_and_the_reply_still_goes_out(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(761)
    with RunningBot(bot_settings(api, tmp_path), api, CountingEngine(warm_pipeline)) as bot:
        # PTB's AIORateLimiter keeps the bot within Telegram's flood limits.
        assert isinstance(bot.app.bot.rate_limiter, AIORateLimiter)
        api.fail("sendMessage", "429", times=1)
        api.user_message(user, "/status")
        wait_reply(api, user.id, "nothing in the queue")
    assert api.failed == [("sendMessage", "429")]
    (sent,) = [c for c in api.calls_of("sendMessage") if c.chat_id == user.id]
    # The second try came only after the wait Telegram asked for.
    assert sent.at - api.failed_at[0] >= RETRY_AFTER_S


def test_every_job_id_has_128_random_bits(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    users = [FakeUser(771), FakeUser(772)]
    with RunningBot(bot_settings(api, tmp_path), api, CountingEngine(warm_pipeline)):
        for user in users:
            api.user_message(user, BRIEFING)
        for user in users:
            wait_digests(api, user.id)
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        ids = [row[0] for row in db.execute("SELECT id FROM jobs")]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(len(job_id) == 32 and int(job_id, 16) >= 0 for job_id in ids)


def test_the_apology_after_the_last_attempt_waits_for_telegram_to_come_back(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline, fail_on="SIMULATED-FAILURE")
    user = FakeUser(781)
    settings = bot_settings(
        api, tmp_path, **{**IMPATIENT, "BRIEFING_DIGEST_TELEGRAM__MAX_ATTEMPTS": "2"}
    )
    with RunningBot(settings, api, engine):
        api.user_message(user, "SIMULATED-FAILURE " + BRIEFING)
        wait_reply(api, user.id, "📥")
        # Telegram goes away for the last attempt and the apology that follows it.
        api.wait_for(lambda: engine.calls == 1, what="the first attempt")
        api.fail("editMessageText", "502", seconds=4)
        api.fail("sendMessage", "502", seconds=4)
        apology = wait_reply(api, user.id, "Reference:", timeout=60)
        _until(lambda: _job_states(tmp_path) == ["failed"], "the job given up")
    assert engine.calls == 2
    assert ("editMessageText", "502") in api.failed
    assert len([m for m in api.bot_messages(user.id) if "Reference:" in (m.text or "")]) == 1
    assert _leftover_status(api, user.id) == [] and apology.text
