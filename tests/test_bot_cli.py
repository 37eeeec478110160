"""``briefing-digest bot``: the token check before anything starts, and a real run as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cli.main import main
from settings import PROJECT_ROOT
from tests.conftest import SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)
TOKEN = "123456:" + "A" * 35


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi(token=TOKEN) as fake:
        yield fake


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (None, "TELEGRAM_BOT_TOKEN is not set"),
        ("12345:tooshort", "TELEGRAM_BOT_TOKEN is malformed"),
    ],
)
def test_missing_or_malformed_token_stops_before_anything_starts(
    token: str | None,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    if token is not None:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("BRIEFING_DIGEST_DATA_DIR", str(data_dir))
    assert main(["bot"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    if token:
        assert token not in err
    assert not data_dir.exists()  # nothing was started or created


def _bot_process(api: FakeBotApi, data_dir: Path, token: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "BRIEFING_DIGEST_DATA_DIR": str(data_dir),
        "BRIEFING_DIGEST_TELEGRAM__PASTE_GATHER_SECONDS": "0.2",
        # One digest worker is all these tests use (the default starts one per core).
        "BRIEFING_DIGEST_WORKERS__COUNT": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "-vv", "bot"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _drain(process: subprocess.Popen[str]) -> Callable[[], str]:
    """Read the process's stderr as it comes: with -vv a full pipe would block its logging
    (and with it the bot). The returned function waits for the end and gives the text."""
    chunks: list[str] = []
    assert process.stderr is not None
    stream = process.stderr
    reader = threading.Thread(target=lambda: chunks.append(stream.read()), daemon=True)
    reader.start()

    def text() -> str:
        process.wait(30)
        reader.join(10)
        return "".join(chunks)

    return text


def test_a_rejected_token_is_one_line_without_the_token(api: FakeBotApi, tmp_path: Path) -> None:
    other = "654321:" + "B" * 35  # well formed, but not the one the server knows
    process = _bot_process(api, tmp_path, other)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "briefing-digest: error: Telegram rejected the bot token" in err
    assert other not in err and "B" * 35 not in err


def test_the_bot_command_serves_until_sigterm_and_never_logs_the_token(
    api: FakeBotApi, tmp_path: Path
) -> None:
    process = _bot_process(api, tmp_path / "data", TOKEN)
    stderr = _drain(process)
    try:
        api.wait_for(lambda: api.calls_of("getUpdates"), timeout=30, what="polling")
        user = FakeUser(77)
        api.user_message(user, (SAMPLES / "en_briefing.txt").read_text(encoding="utf-8"))
        api.wait_for(
            lambda: any(m.parse_mode == "HTML" and m.reply_markup for m in api.bot_messages(77)),
            timeout=30,
            what="a digest",
        )
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        err = stderr()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert time.monotonic() - started < 10
    assert (tmp_path / "data" / "bot.sqlite3").exists()
    # Debug logging on (-vv), yet neither the token nor its secret half appears anywhere.
    assert "getUpdates" in err or "polling" in err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err


def _stderr_lines(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if line.strip()]


def test_an_unreachable_bot_api_is_retried_one_line_each_time_then_one_line_error(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "TELEGRAM_BASE_FILE_URL": f"http://127.0.0.1:{port}/file/bot",
        "BRIEFING_DIGEST_DATA_DIR": str(tmp_path),
        "BRIEFING_DIGEST_TELEGRAM__STARTUP_RETRY_S": "3",
        "BRIEFING_DIGEST_WORKERS__COUNT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "bot"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = _stderr_lines(done.stderr)
    assert done.returncode == 2, done.stderr
    retries, last = lines[:-1], lines[-1]
    assert len(retries) >= 2, done.stderr
    assert all("cannot reach the Bot API" in line and "trying again" in line for line in retries)
    assert last.startswith("briefing-digest: error: cannot reach the Bot API"), last
    assert TOKEN not in done.stderr


def test_the_bot_waits_for_the_bot_api_and_then_serves(api: FakeBotApi, tmp_path: Path) -> None:
    api.fail("getMe", "502", times=2)
    process = _bot_process(api, tmp_path / "data", TOKEN)
    stderr = _drain(process)
    try:
        api.wait_for(lambda: api.calls_of("getUpdates"), timeout=30, what="polling")
        process.send_signal(signal.SIGTERM)
        err = stderr()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert ("getMe", "502") in api.failed
    assert "cannot reach the Bot API" in err and "Traceback" not in err


def test_a_malformed_getme_answer_is_one_line(api: FakeBotApi, tmp_path: Path) -> None:
    api.get_me_result = {"greeting": "this is not a bot user"}
    process = _bot_process(api, tmp_path, TOKEN)
    _, err = process.communicate(timeout=30)
    lines = [line for line in _stderr_lines(err) if " DEBUG " not in line and " INFO " not in line]
    assert process.returncode == 2
    assert lines == [
        "briefing-digest: error: the Bot API's getMe answer is not a bot user (TypeError); "
        "check [telegram] base_url"
    ], err
