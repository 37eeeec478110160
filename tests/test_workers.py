"""The digest worker pool with real processes: limits, crashes, cancel, progress, parent death."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.errors import IngestError, UnsupportedLanguageError
from digest.pipeline import Progress
from settings import PROJECT_ROOT, Settings
from settings.schema import WorkersSettings
from tests.workers_support import behaving_pipeline, failing_factory, process_gone, wait_until
from workers import (
    BytesSource,
    DigestRequest,
    JobCancelledError,
    LimitExceededError,
    LimitKind,
    OutputFormat,
    PathSource,
    WorkerCrashedError,
    WorkerPool,
    WorkerStartError,
)
from workers.lifeline import ORPHANED_EXIT, bind_to_parent

SAMPLE = PROJECT_ROOT / "samples" / "en_briefing.txt"
LIMIT_MESSAGE = "This briefing is too large or too complex to digest (limit: "


def pool_settings(settings: Settings, **workers: object) -> Settings:
    values: dict[str, object] = {"warm_up": False, "job_timeout_s": 30.0}
    values.update(workers)
    return settings.model_copy(update={"workers": WorkersSettings(**values)})  # type: ignore[arg-type]


@pytest.fixture()
def make_pool(settings: Settings) -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(count: int = 1, **workers: object) -> WorkerPool:
        pool = WorkerPool(
            pool_settings(settings, **workers), factory=behaving_pipeline, count=count
        )
        pools.append(pool)
        assert pool.wait_ready(60), "the workers did not start"
        return pool

    yield make
    for pool in pools:
        pool.close()


def command(text: str) -> DigestRequest:
    return DigestRequest(BytesSource(text.encode(), "briefing.txt"), ("en",))


class Recorder:
    """A progress callback that keeps what arrived and can wait for a stage."""

    def __init__(self) -> None:
        self.steps: list[Progress] = []
        self._changed = threading.Condition()

    def __call__(self, step: Progress) -> None:
        with self._changed:
            self.steps.append(step)
            self._changed.notify_all()

    def wait_for(self, stage: str, timeout: float = 30.0) -> Progress:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((s for s in self.steps if s.stage == stage), None), timeout
            )
        assert found, f"no {stage!r} progress within {timeout} s (got {self.steps})"
        return found

    def worker_pid(self) -> int:
        return int(self.wait_for("worker").detail.split(":")[0])


def test_memory_limit_kills_the_job_replaces_the_worker_and_others_complete(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(count=2, job_memory_mb=200)
    hog_progress = Recorder()
    hog = pool.submit(command("HOG"), progress=hog_progress)
    normal = pool.submit(DigestRequest(PathSource(SAMPLE), ("en",)))
    with pytest.raises(LimitExceededError) as caught:
        hog.result(60)
    assert caught.value.limit is LimitKind.MEMORY
    assert str(caught.value) == f"{LIMIT_MESSAGE}200 MB of memory)"
    assert "\n" not in str(caught.value)
    assert normal.result(60).rendered["en"]["md"].startswith("# ")
    hog_pid = hog_progress.worker_pid()
    wait_until(lambda: process_gone(hog_pid), 10, "the worker that broke the limit to exit")
    wait_until(lambda: hog_pid not in pool.pids() and len(pool.pids()) == 2, 60, "its replacement")
    stats = pool.stats()
    assert stats.memory_limit == 1 and stats.restarts == 1 and stats.crashes == 0
    # The replacement works.
    assert pool.submit(command("PID")).result(60).digests["en"].topics


def test_time_limit_kills_the_job_replaces_the_worker_and_others_complete(
    make_pool: Callable[..., WorkerPool],
) -> None:
    # Warmed up: a fresh worker's first digest loads the language profiles (seconds); the
    # limit leaves room for a normal job on this shared 2-core machine.
    pool = make_pool(count=2, job_timeout_s=5, warm_up=True)
    slow_progress = Recorder()
    started = time.monotonic()
    slow = pool.submit(command("SLEEP 60"), progress=slow_progress)
    normal = pool.submit(DigestRequest(PathSource(SAMPLE), ("en", "ru")))
    with pytest.raises(LimitExceededError) as caught:
        slow.result(30)
    assert time.monotonic() - started < 20
    assert caught.value.limit is LimitKind.TIME
    assert str(caught.value) == f"{LIMIT_MESSAGE}5 s of processing time)"
    assert set(normal.result(30).digests) == {"en", "ru"}
    slow_pid = slow_progress.worker_pid()
    wait_until(lambda: process_gone(slow_pid), 10, "the killed worker to be gone")
    wait_until(lambda: slow_pid not in pool.pids() and len(pool.pids()) == 2, 60, "its replacement")
    assert pool.stats().time_limit == 1


def test_worker_killed_mid_job_loses_nothing(
    make_pool: Callable[..., WorkerPool], tmp_path: Path
) -> None:
    pool = make_pool(count=1)
    progress = Recorder()
    job = pool.submit(command(f"BLOCK_ONCE {tmp_path / 'marker'}"), progress=progress)
    victim = int(progress.wait_for("blocked").detail)
    os.kill(victim, signal.SIGKILL)
    result = job.result(60)
    assert result.digests["en"].topics  # the second run digested it
    assert pool.stats().crashes == 1
    workers = [int(s.detail.split(":")[0]) for s in progress.steps if s.stage == "worker"]
    assert workers[0] == victim and len(workers) == 2 and workers[1] != victim


def test_a_job_that_always_crashes_fails_after_bounded_retries(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(count=2, max_retries=1)
    progress = Recorder()
    crashing = pool.submit(command("SEGV"), progress=progress)
    others = [pool.submit(command("PID")) for _ in range(3)]
    with pytest.raises(WorkerCrashedError, match=r"2 times .*SIGSEGV"):
        crashing.result(60)
    assert sum(1 for s in progress.steps if s.stage == "worker") == 2
    assert all(f.result(60).digests["en"].topics for f in others)
    assert pool.stats().crashes == 2


def test_cancel_stops_a_running_job_at_a_stage_boundary_and_keeps_the_worker(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(count=1)
    progress, cancel = Recorder(), threading.Event()
    ticking = pool.submit(command("TICK"), progress=progress, cancel=cancel)
    worker = progress.worker_pid()
    progress.wait_for("tick")
    # Queued behind it, and cancelled before it ever runs.
    queued_cancel = threading.Event()
    queued_progress = Recorder()
    queued = pool.submit(command("PID"), progress=queued_progress, cancel=queued_cancel)
    queued_cancel.set()
    cancel.set()
    with pytest.raises(JobCancelledError):
        ticking.result(10)
    with pytest.raises(JobCancelledError):
        queued.result(10)
    after = Recorder()
    assert pool.submit(command("PID"), progress=after).result(30).digests
    assert after.worker_pid() == worker  # the worker stayed: no kill, no reload
    assert not queued_progress.steps  # never ran
    assert pool.stats().restarts == 0


def test_progress_raising_cancels_the_job_with_its_exception(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(count=1)

    class Stop(Exception):
        pass

    def progress(step: Progress) -> None:
        if step.stage == "tick":
            raise Stop

    with pytest.raises(Stop):
        pool.submit(command("TICK"), progress=progress).result(10)
    assert pool.submit(command("PID")).result(30).digests


def test_progress_arrives_as_pipeline_progress_and_futures_work_in_asyncio(
    make_pool: Callable[..., WorkerPool],
) -> None:
    pool = make_pool(count=1)
    progress = Recorder()
    request = DigestRequest(
        PathSource(SAMPLE),
        ("en", "ru"),
        (OutputFormat.MD, OutputFormat.JSON, OutputFormat.TELEGRAM),
    )

    async def digest() -> object:
        return await asyncio.wrap_future(pool.submit(request, progress=progress))

    result = asyncio.run(digest())
    stages = [s.stage for s in progress.steps]
    assert stages[:3] == ["language", "topics", "summarising"] and "translating" in stages
    assert all(isinstance(s, Progress) for s in progress.steps)
    assert progress.steps[0].detail == "en"
    assert result.source_language == "en"  # type: ignore[attr-defined]
    assert set(result.rendered["ru"]) == {"md", "json"}  # type: ignore[attr-defined]
    assert result.telegram["en"][0]  # type: ignore[attr-defined]


def test_each_worker_builds_its_engine_once(make_pool: Callable[..., WorkerPool]) -> None:
    pool = make_pool(count=1)
    seen = []
    for _ in range(3):
        progress = Recorder()
        pool.submit(command("PID"), progress=progress).result(30)
        seen.append(progress.wait_for("worker").detail.split(":"))
    assert len({(pid, engine) for pid, engine, _ in seen}) == 1
    assert [runs for _, _, runs in seen] == ["1", "2", "3"]


def test_user_errors_come_back_whole(make_pool: Callable[..., WorkerPool], tmp_path: Path) -> None:
    pool = make_pool(count=1)
    german = (
        "Die beiden Minister haben heute ausführlich über den Handel und die Energie gesprochen."
    )
    with pytest.raises(UnsupportedLanguageError) as caught:
        pool.submit(DigestRequest(BytesSource(german.encode(), "de.txt"), ("en",))).result(30)
    assert caught.value.code == "de" and "unsupported language: de" in str(caught.value)
    with pytest.raises(IngestError, match=r"missing\.txt: file not found"):
        pool.submit(DigestRequest(PathSource(tmp_path / "missing.txt"), ("en",))).result(30)


def test_a_factory_that_fails_is_reported_not_retried_forever(settings: Settings) -> None:
    with WorkerPool(pool_settings(settings), factory=failing_factory, count=1) as pool:
        future = pool.submit(command("PID"))
        with pytest.raises(WorkerStartError, match="the model directory is missing"):
            future.result(60)
        assert pool.broken
        with pytest.raises(WorkerStartError):
            pool.submit(command("PID")).result(1)


def test_closing_fails_what_is_left(make_pool: Callable[..., WorkerPool]) -> None:
    pool = make_pool(count=1)
    progress = Recorder()
    running = pool.submit(command("SLEEP 60"), progress=progress)
    waiting = pool.submit(command("PID"))
    pid = progress.worker_pid()
    pool.close()
    for future in (running, waiting):
        assert future.done() and "closed" in str(future.exception())
    assert process_gone(pid)


def _orphan(parent: int) -> None:
    bind_to_parent(parent)
    time.sleep(30)


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    process = multiprocessing.get_context("spawn").Process(target=_orphan, args=(1,))
    process.start()
    process.join(30)
    assert process.exitcode == ORPHANED_EXIT


def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    slow, started = tmp_path / "slow.txt", tmp_path / "started"
    slow.write_text(f"SLEEP 60 marker={started}")
    parent = subprocess.Popen(
        [sys.executable, "-m", "tests.workers_support", str(tmp_path / "out"), str(slow)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.startswith("workers "), line
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2 and not any(process_gone(p) for p in pids)
        wait_until(started.exists, 30, "the batch's job to start")
        assert int(started.read_text()) in pids
    finally:
        parent.kill()
        parent.wait(10)
    wait_until(lambda: all(process_gone(p) for p in pids), 10, f"workers {pids} to exit")


def test_workers_run_at_a_lower_cpu_priority(make_pool: Callable[..., WorkerPool]) -> None:
    pool = make_pool(count=1, nice=7)
    [pid] = pool.pids()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + 7)
