"""Storage failing: a damaged or unusable store is one line at start, /readyz tells when the
stores cannot take writes, and a write that failed for want of space is done once there is
space again, without a restart."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.pipeline import Pipeline
from settings import PROJECT_ROOT
from tests.bot_harness import CountingEngine, wait_digests
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser
from tests.webhook_harness import WebhookBot, WebhookFakeApi, webhook_settings

pytestmark = pytest.mark.timeout(90)
BRIEFING = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")


@pytest.fixture
def api() -> Iterator[WebhookFakeApi]:
    with WebhookFakeApi() as fake:
        yield fake


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database, just bytes " * 200)


def _damaged_pages(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE filler (x TEXT)")
    db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    db.commit()
    db.close()
    data = bytearray(path.read_bytes())
    data[3 * 4096 : 3 * 4096 + 2000] = b"\x55" * 2000
    path.write_bytes(bytes(data))


def _not_a_directory(data_dir: Path) -> None:
    data_dir.rmdir()
    data_dir.write_text("a file where the data directory should be")


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "bot.sqlite3 not a database": (lambda d: _garbage(d / "bot.sqlite3"), "bot.sqlite3"),
    "queue.sqlite3 not a database": (lambda d: _garbage(d / "queue.sqlite3"), "queue.sqlite3"),
    "queue.sqlite3 malformed": (lambda d: _damaged_pages(d / "queue.sqlite3"), "malformed"),
    "data dir is a file": (_not_a_directory, "data"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unusable_store_is_one_line_at_start(tmp_path: Path, case: str) -> None:
    damage, named = CASES[case]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damage(data_dir)
    with FakeBotApi() as fake:
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_BASE_URL": fake.base_url,
            "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
            "BRIEFING_DIGEST_DATA_DIR": str(data_dir),
        }
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "bot"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("briefing-digest: error: ") and named in lines[0], lines[0]


def test_readyz_fails_while_free_space_is_below_the_threshold(
    api: WebhookFakeApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = webhook_settings(
        api, tmp_path, BRIEFING_DIGEST_STORAGE__MIN_FREE_BYTES=str(10**18)
    )
    with WebhookBot(settings, api, CountingEngine(pipeline)) as bot:
        ready = bot.client.get(bot.base + "/readyz")
    assert ready.status_code == 503
    assert any("MB free" in reason for reason in ready.json()["reasons"])


def _until(probe: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_paste_waiting_for_disk_space_is_queued_once_there_is_space_again(
    api: WebhookFakeApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    user = FakeUser(901)
    settings = webhook_settings(
        api, tmp_path, BRIEFING_DIGEST_TELEGRAM__PASTE_GATHER_SECONDS="1.5"
    )
    engine = CountingEngine(pipeline)
    with WebhookBot(settings, api, engine) as bot:
        queue_db = bot.app.bot_data["services"].queue_db

        def pages(limit: str) -> None:
            # SQLite's page limit on the bot's own connection: writes that need more space
            # fail with "database or disk is full", exactly as on a full disk.
            with queue_db._lock:
                if limit == "current":
                    (count,) = queue_db._db.execute("PRAGMA page_count").fetchone()
                    limit = str(count)
                queue_db._db.execute(f"PRAGMA max_page_count = {limit}")

        # Long enough that its job needs new pages in the database file.
        long_paste = "\n\n".join([BRIEFING] * 4)
        assert bot.post(api.update(user, long_paste)).status_code == 200
        pages("current")  # the disk fills up while the paste is being gathered
        _until(lambda: queue_db.write_error is not None, "the job's write to fail")
        assert "database or disk is full" in queue_db.write_error
        ready = bot.client.get(bot.base + "/readyz")
        assert ready.status_code == 503
        assert any("disk is full" in r for r in ready.json()["reasons"])
        assert engine.calls == 0
        pages("1073741823")  # space again
        wait_digests(api, user.id, timeout=30)
        _until(lambda: bot.client.get(bot.base + "/readyz").status_code == 200, "ready again")
    with sqlite3.connect(tmp_path / "queue.sqlite3") as db:
        assert [row[0] for row in db.execute("SELECT state FROM updates")] == ["done"]
    assert engine.calls == 1
