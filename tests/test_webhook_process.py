"""``briefing-digest bot --webhook`` as a real process: its checks before starting, a crash
(``kill -9``) with jobs running and queued, a SIGTERM; after a restart every user gets their
digest, once. Nothing of the token or the webhook secret appears in the logs (-vv).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.webhook import SECRET_HEADER
from cli.main import main
from settings import PROJECT_ROOT
from tests.bot_harness import digest_views
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeUser
from tests.webhook_harness import SECRET, WebhookFakeApi, free_port, webhook_env

pytestmark = pytest.mark.timeout(90)
TOKEN = "123456:" + "A" * 35
BRIEFING = (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8")


@pytest.fixture
def api() -> Iterator[WebhookFakeApi]:
    with WebhookFakeApi(token=TOKEN) as fake:
        yield fake


# -- checks before anything starts -------------------------------------------------------------
@pytest.mark.parametrize(
    ("secret", "says"),
    [
        (None, "TELEGRAM_WEBHOOK_SECRET is not set"),
        ("has spaces and !", "TELEGRAM_WEBHOOK_SECRET is malformed"),
        ("x" * 257, "TELEGRAM_WEBHOOK_SECRET is malformed"),
    ],
)
def test_a_missing_or_malformed_secret_stops_before_anything_starts(
    secret: str | None,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET", raising=False)
    if secret is not None:
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("BRIEFING_DIGEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BRIEFING_DIGEST_WEBHOOK__PUBLIC_URL", "https://bot.example.test/hook")
    assert main(["bot", "--webhook"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    if secret:
        assert secret not in err
    assert not (tmp_path / "data").exists()


def test_webhook_mode_from_config_needs_a_public_https_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BRIEFING_DIGEST_TELEGRAM__MODE", "webhook")
    monkeypatch.setenv("BRIEFING_DIGEST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BRIEFING_DIGEST_WEBHOOK__PUBLIC_URL", raising=False)
    assert main(["bot"]) == 2
    assert "webhook.public_url is not set" in capsys.readouterr().err
    monkeypatch.setenv("BRIEFING_DIGEST_WEBHOOK__PUBLIC_URL", "http://bot.example.test/hook")
    assert main(["bot"]) == 2
    assert "webhook.public_url: Value error, must be an https:// URL" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


# -- the process -------------------------------------------------------------------------------
class BotProcess:
    def __init__(self, api: WebhookFakeApi, data_dir: Path, port: int, log: Path, **env: str):
        self.port = port
        self.log = log
        environ = {
            **os.environ,
            **webhook_env(api, data_dir, port, BRIEFING_DIGEST_TELEGRAM__WORKERS="1", **env),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "-vv", "bot", "--webhook"],
                cwd=PROJECT_ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the bot did not get ready:\n" + self.log.read_text())

    def post(self, update: dict[str, object]) -> int:
        return self.client.post(
            "/telegram", json=update, headers={SECRET_HEADER: SECRET}
        ).status_code

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def jobs_in(data_dir: Path) -> dict[str, tuple[str, int]]:
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        return {
            row[0]: (row[1], row[2])
            for row in db.execute("SELECT CAST(user_id AS TEXT), state, attempts FROM jobs")
        }


def one_digest_each(api: WebhookFakeApi, data_dir: Path, users: list[FakeUser]) -> None:
    for user in users:
        api.wait_for(lambda u=user: digest_views(api, u.id), timeout=30, what=f"digest {user.id}")
    # Every job recorded as ended: nothing more can be sent for them, so the count is final.
    api.wait_for(
        lambda: {state for state, _ in jobs_in(data_dir).values()} == {"done"},
        timeout=30,
        what="every job done",
    )
    for user in users:
        assert len(digest_views(api, user.id)) == 1, user.id


def test_a_crash_with_jobs_running_and_queued_loses_nothing(
    api: WebhookFakeApi, tmp_path: Path
) -> None:
    data, log = tmp_path / "data", tmp_path / "bot.log"
    port = free_port()
    first, second = FakeUser(401), FakeUser(402)
    bot = BotProcess(api, data, port, log)
    try:
        bot.wait_ready()
        api.hold()  # the first digest will hang in delivery
        assert bot.post(api.update(first, BRIEFING)) == 200
        assert bot.post(api.update(second, BRIEFING)) == 200
        api.wait_for(lambda: api.holding >= 1, timeout=30, what="a digest being delivered")
        os.kill(bot.process.pid, signal.SIGKILL)
        bot.process.wait(10)
    finally:
        bot.close()
    # One job was running (one attempt made), the other waiting; both survived the crash.
    # Which user's update was handled first is up to the scheduler.
    before = jobs_in(data)
    assert set(before) == {"401", "402"}
    assert sorted(before.values()) == [("queued", 0), ("running", 1)]
    running = next(user for user, state in before.items() if state[0] == "running")
    api.let_go()
    bot = BotProcess(api, data, port, log)
    try:
        bot.wait_ready()
        one_digest_each(api, data, [first, second])
    finally:
        bot.close()
    # The interrupted job needed a second attempt; the waiting one ran once.
    assert jobs_in(data) == {user: ("done", 2 if user == running else 1) for user in before}
    text = log.read_text()
    assert "interrupted by a crash are queued again" in text
    assert TOKEN not in text and TOKEN.split(":")[1] not in text and SECRET not in text


def test_sigterm_stops_accepting_lets_jobs_finish_and_keeps_the_rest(
    api: WebhookFakeApi, tmp_path: Path
) -> None:
    data, log = tmp_path / "data", tmp_path / "bot.log"
    port = free_port()
    first, second = FakeUser(403), FakeUser(404)
    bot = BotProcess(api, data, port, log, BRIEFING_DIGEST_WEBHOOK__SHUTDOWN_GRACE_S="1")
    try:
        bot.wait_ready()
        api.hold()
        assert bot.post(api.update(first, BRIEFING)) == 200
        assert bot.post(api.update(second, BRIEFING)) == 200
        api.wait_for(lambda: api.holding >= 1, timeout=30, what="a digest being delivered")
        started = time.monotonic()
        bot.process.send_signal(signal.SIGTERM)
        assert bot.process.wait(20) == 0
        assert time.monotonic() - started < 10
        with pytest.raises(httpx.TransportError):
            bot.post(api.update(first, "/start"))
    finally:
        bot.close()
    # The running job did not finish within the grace period: back in the queue, and the
    # interrupted attempt does not count.
    assert jobs_in(data) == {"403": ("queued", 0), "404": ("queued", 0)}
    api.let_go()
    bot = BotProcess(api, data, port, log)
    try:
        bot.wait_ready()
        one_digest_each(api, data, [first, second])
    finally:
        bot.close()
    text = log.read_text()
    assert "still running at shutdown are kept for the next start" in text
    assert TOKEN not in text and SECRET not in text
