"""The SQLite job queue and update ledger: restarts and crashes lose nothing, an update is
handled once, failing jobs are retried and then given up, and the queue behaves like the
in-memory one (fairness, positions, /cancel, a full queue). Polling mode end to end: a
redelivered update after a restart, updates left unhandled by a crash, a paste cut by a stop.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.durable_queue import DurableJobQueue, QueueDatabase, SqliteUpdateLedger
from bot.jobs import Job, JobQueue, QueueFullError, RetryJob, Source
from bot.updates import MemoryUpdateLedger
from digest.model import Document
from digest.pipeline import Pipeline
from tests.bot_harness import CountingEngine, RunningBot, bot_settings, digest_views, wait_digests
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)
BRIEFING = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")


def _job(job_id: str, user: int, update_ids: tuple[int, ...] = ()) -> Job:
    return Job(job_id, user, user, Source("text", "x"), ("en",), "en", update_ids=update_ids)


def _until(probe: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


class Recorder:
    """A runner that records the jobs it ran; ``hold`` makes it wait for ``release``."""

    def __init__(self, hold: bool = False) -> None:
        self.ran: list[str] = []
        self.cancelled: list[str] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.given_up: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, job: Job, cancel: threading.Event) -> None:
        with self.lock:
            self.ran.append(job.id)
        self.release.wait(10)
        if cancel.is_set():
            self.cancelled.append(job.id)

    def give_up(self, job: Job) -> None:
        self.given_up.append(job.id)


QueueMaker = Callable[[Any, int, int], JobQueue]


@pytest.fixture(params=["sqlite", "memory"])
def make_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QueueMaker]:
    made: list[JobQueue] = []
    dbs: list[QueueDatabase] = []

    def make(runner: Any, workers: int, max_waiting: int) -> JobQueue:
        queue: JobQueue
        db = QueueDatabase(tmp_path if request.param == "sqlite" else None)
        dbs.append(db)
        queue = DurableJobQueue(db, runner, workers, max_waiting)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.stop(5)
    for db in dbs:
        db.close()


# -- the same behaviour as the in-memory queue -------------------------------------------------
def test_one_job_per_user_at_a_time_in_order_and_fair(make_queue: QueueMaker) -> None:
    runner = Recorder(hold=True)
    queue = make_queue(runner, 2, 10)
    queue.start()
    for job_id, user in [("a1", 1), ("a2", 1), ("a3", 1), ("b1", 2)]:
        queue.submit(_job(job_id, user))
    _until(lambda: len(runner.ran) == 2)
    # Both workers are now held by their jobs: nothing else can start, so this is final.
    assert sorted(runner.ran) == ["a1", "b1"]
    assert queue.position(1) == 0 and queue.position(2) == 0 and queue.position(3) is None
    snapshot = queue.snapshot()
    assert (snapshot.queued, snapshot.running, snapshot.workers_alive) == (2, 2, 2)
    runner.release.set()
    _until(lambda: len(runner.ran) == 4)
    assert runner.ran[2:] == ["a2", "a3"]


def test_full_queue_positions_and_cancel(make_queue: QueueMaker) -> None:
    runner = Recorder(hold=True)
    queue = make_queue(runner, 1, 2)
    queue.start()
    queue.submit(_job("r", 1))
    _until(lambda: queue.position(1) == 0)
    assert queue.submit(_job("w1", 2)) == 1
    assert queue.submit(_job("w2", 3)) == 2
    with pytest.raises(QueueFullError):
        queue.submit(_job("w3", 4))
    assert queue.position(3) == 2
    dropped = queue.cancel(2)
    assert [j.id for j in dropped.waiting] == ["w1"] and dropped.running is None
    assert queue.position(3) == 1
    signalled = queue.cancel(1)
    assert signalled.running is not None and signalled.running.id == "r" and signalled.count == 1
    assert queue.cancel(9).count == 0
    runner.release.set()
    _until(lambda: queue.position(3) is None)
    assert runner.cancelled == ["r"] and "w1" not in runner.ran


# -- durability ------------------------------------------------------------------------------
class Crash(BaseException):
    """Ends a worker thread the way a crash would: nothing after it runs."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_running_and_queued_jobs_survive_a_crash(tmp_path: Path) -> None:
    doomed = threading.Event()

    def dying_runner(job: Job, cancel: threading.Event) -> None:
        doomed.wait(10)
        raise Crash

    before = DurableJobQueue(QueueDatabase(tmp_path), dying_runner, 1, 10)
    before.start()
    before.submit(_job("j1", 1, (11,)))
    before.submit(_job("j2", 2, (12,)))
    _until(lambda: before.position(1) == 0)
    # The process dies here: no stop(), the first job's row still says "running".
    after_runner = Recorder()
    db = QueueDatabase(tmp_path)
    after = DurableJobQueue(db, after_runner, 1, 10)
    after.start()
    try:
        _until(lambda: len(after_runner.ran) == 2)
        assert after_runner.ran == ["j1", "j2"]
        _until(lambda: db.job_counts() == {"done": 2})
        assert db.job_state("j1") == ("done", 2)  # the crashed attempt counts
        assert db.job_state("j2") == ("done", 1)
    finally:
        doomed.set()
        after.stop(5)
        db.close()
        # The "crashed" worker ends here, inside this test (its exception is expected).
        for thread in before._threads:
            thread.join(5)


def test_the_same_update_never_makes_two_jobs(tmp_path: Path) -> None:
    db = QueueDatabase(tmp_path)
    queue = DurableJobQueue(db, Recorder(), 1, 10)  # not started: nothing runs yet
    assert queue.submit(_job("first", 1, (7,))) == 1
    assert queue.submit(_job("again", 1, (7,))) == 1  # the place of "first"
    assert queue.submit(_job("paste", 2, (8, 9))) == 2
    assert queue.submit(_job("part", 2, (9,))) == 2
    assert db.job_counts() == {"queued": 2}
    db.close()
    reopened = QueueDatabase(tmp_path)
    queue = DurableJobQueue(reopened, Recorder(), 1, 10)
    queue.start()
    try:
        _until(lambda: reopened.job_counts() == {"done": 2})
        assert queue.submit(_job("after-restart", 1, (7,))) == 0  # done already
        assert reopened.job_counts() == {"done": 2}
    finally:
        queue.stop(5)
        reopened.close()


def test_failing_jobs_are_retried_then_the_user_is_told(tmp_path: Path) -> None:
    attempts: list[int] = []
    ends: list[str] = []

    def flaky(job: Job, cancel: threading.Event) -> None:
        attempts.append(job.attempts)
        if job.id == "bad" or job.attempts < 2:
            raise RetryJob("Telegram unreachable")

    runner = Recorder()
    db = QueueDatabase(tmp_path)
    queue = DurableJobQueue(
        db,
        flaky,
        1,
        10,
        max_attempts=3,
        retry_backoff_s=0.05,
        on_give_up=runner.give_up,
        observer=lambda job, outcome, _: ends.append(f"{job.id}:{outcome}"),
    )
    queue.start()
    try:
        queue.submit(_job("bad", 1))
        queue.submit(_job("good", 2))
        _until(lambda: len(ends) == 5)
    finally:
        queue.stop(5)
    assert runner.given_up == ["bad"]
    assert sorted(ends) == sorted(
        ["bad:retry", "bad:retry", "bad:given_up", "good:retry", "good:done"]
    )
    assert db.job_state("bad") == ("failed", 3)
    assert db.job_state("good") == ("done", 2)
    db.close()


def test_a_job_that_crashed_the_process_every_time_is_given_up_without_running(
    tmp_path: Path,
) -> None:
    db = QueueDatabase(tmp_path)
    DurableJobQueue(db, Recorder(), 1, 10).submit(_job("poison", 1))
    with sqlite3.connect(tmp_path / "queue.sqlite3") as raw:
        raw.execute("UPDATE jobs SET state = 'running', attempts = 3")
    runner = Recorder()
    queue = DurableJobQueue(db, runner, 1, 10, max_attempts=3, on_give_up=runner.give_up)
    queue.start()
    try:
        _until(lambda: runner.given_up == ["poison"])
        assert runner.ran == []
        assert db.job_state("poison") == ("failed", 3)
    finally:
        queue.stop(5)
        db.close()


def test_submitting_from_many_threads_at_once(tmp_path: Path) -> None:
    runner = Recorder()
    db = QueueDatabase(tmp_path)
    queue = DurableJobQueue(db, runner, 4, 10_000)
    queue.start()
    try:

        def submit_many(base: int) -> None:
            for i in range(25):
                queue.submit(_job(f"{base}-{i}", base * 1000 + i, (base * 1000 + i,)))

        threads = [threading.Thread(target=submit_many, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _until(lambda: db.job_counts().get("done") == 200, timeout=20)
        assert sorted(runner.ran) == sorted({*runner.ran})
    finally:
        queue.stop(5)
        db.close()


# -- the update ledger -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_the_ledger_hands_out_each_update_once(kind: str, tmp_path: Path) -> None:
    db = QueueDatabase(tmp_path)
    ledger = SqliteUpdateLedger(db) if kind == "sqlite" else MemoryUpdateLedger()

    async def scenario() -> None:
        assert await ledger.store(1, '{"update_id": 1}') is True
        assert await ledger.store(1, '{"update_id": 1}') is False
        assert await ledger.begin(1, lambda: "{}") is True
        assert await ledger.begin(1, lambda: "{}") is False  # being handled
        await ledger.finish(1)
        assert await ledger.begin(1, lambda: "{}") is False  # handled
        assert await ledger.begin(2, lambda: '{"update_id": 2}') is True
        ledger.defer(2)
        await ledger.finish(2)
        assert await ledger.begin(2, lambda: "{}") is False  # a paste part being gathered
        if kind == "sqlite":
            assert await ledger.unfinished() == [(2, '{"update_id": 2}')]
        await ledger.settle([2])
        assert await ledger.unfinished() == []

    asyncio.run(scenario())
    db.close()


def test_an_update_that_keeps_crashing_the_bot_is_skipped(tmp_path: Path) -> None:
    db = QueueDatabase(tmp_path)

    async def scenario() -> None:
        for _ in range(3):  # three starts, each crashing while handling it
            ledger = SqliteUpdateLedger(db, max_attempts=3)
            assert await ledger.begin(5, lambda: '{"update_id": 5}') is True
        assert await SqliteUpdateLedger(db, max_attempts=3).begin(5, lambda: "{}") is False
        assert await SqliteUpdateLedger(db).unfinished() == []

    asyncio.run(scenario())
    db.close()


# -- polling mode end to end -------------------------------------------------------------------
@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def warm_pipeline(pipeline: Pipeline) -> Pipeline:
    pipeline.run(Document("warm.txt", BRIEFING, "txt"), ["en"])
    return pipeline


def _redeliver(api: FakeBotApi, update: dict[str, Any]) -> None:
    """Telegram sends an update again (it was not confirmed before the restart)."""
    with api._cond:
        api._updates.append(update)
        api._cond.notify_all()


def test_polling_a_redelivered_update_after_a_restart_is_not_handled_again(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(501)
    settings = bot_settings(api, tmp_path)
    with RunningBot(settings, api, engine):
        api.user_message(user, BRIEFING)
        wait_digests(api, user.id)
    update = {"update_id": 1, "message": api.messages[(user.id, 1)].data}
    with RunningBot(settings, api, engine) as bot:
        _redeliver(api, update)
        api.user_message(user, "/status")  # a new update: handled
        api.wait_for(
            lambda: any(
                "nothing in the queue" in (m.text or "") for m in api.bot_messages(user.id)
            ),
            what="/status answered",
        )
        # The redelivered update was seen and skipped (not merely not yet handled).
        metrics = bot.app.bot_data["services"].metrics
        _until(lambda: metrics.value("updates_duplicate_total") == 1)
    assert engine.calls == 1
    assert len(digest_views(api, user.id)) == 1


def test_polling_updates_left_unhandled_by_a_crash_are_handled_after_the_restart(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(502)
    message = api.user_message(user, BRIEFING, push=False)
    # The bot had taken the update (and Telegram forgotten it) when the process died.
    db = QueueDatabase(tmp_path)
    assert db.store_update(77, json.dumps({"update_id": 77, "message": message.data}))
    db.close()
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        wait_digests(api, user.id)
    assert engine.calls == 1


def test_polling_a_paste_cut_by_a_stop_is_gathered_again_after_the_restart(
    api: FakeBotApi, warm_pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(warm_pipeline)
    user = FakeUser(503)
    paragraphs = BRIEFING.split("\n\n")
    half = len(paragraphs) // 2
    parts = ["\n\n".join(paragraphs[:half]), "\n\n".join(paragraphs[half:])]
    slow = bot_settings(api, tmp_path, BRIEFING_DIGEST_TELEGRAM__PASTE_GATHER_SECONDS="20")
    with RunningBot(slow, api, engine) as bot:
        for part in parts:
            api.user_message(user, part)
        # Both parts are being gathered when the bot stops.
        gatherer = bot.app.bot_data["services"].gatherer
        _until(lambda: gatherer.parts_waiting() == 2)
    assert engine.calls == 0
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        assert [row[0] for row in db.execute("SELECT state FROM updates")] == ["new", "new"]
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        wait_digests(api, user.id)
    assert engine.calls == 1
    text = engine.docs[0].text
    assert text.count(parts[0][:40]) == 1 and text.count(parts[1][:40]) == 1
