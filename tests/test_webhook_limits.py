"""The webhook server's limits on connections: slow headers and bodies are cut off, open
connections are capped below the open-file limit (503 past it), and one error repeated does
not flood the log."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bot.log_throttle import RepeatFilter
from bot.webhook import RESERVED_FDS, SECRET_HEADER, connection_cap
from digest.pipeline import Pipeline
from settings import PROJECT_ROOT
from tests.bot_harness import CountingEngine
from tests.fake_bot_api import FakeUser
from tests.webhook_harness import (
    SECRET,
    WebhookBot,
    WebhookFakeApi,
    free_port,
    webhook_env,
    webhook_settings,
)

pytestmark = pytest.mark.timeout(60)
HEAD = b"POST /telegram HTTP/1.1\r\nHost: bot\r\n"


@pytest.fixture
def api() -> Iterator[WebhookFakeApi]:
    with WebhookFakeApi() as fake:
        yield fake


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``sock`` (reading what it sent meanwhile)."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s") from None
    return time.monotonic() - started


def test_slow_headers_and_slow_bodies_are_cut_off(
    api: WebhookFakeApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = webhook_settings(
        api,
        tmp_path,
        BRIEFING_DIGEST_WEBHOOK__HEADER_TIMEOUT_S="0.5",
        BRIEFING_DIGEST_WEBHOOK__BODY_TIMEOUT_S="0.5",
    )
    with WebhookBot(settings, api, CountingEngine(pipeline)) as bot:
        slow_header = _connect(bot.port)
        slow_header.sendall(HEAD)  # and never the blank line that ends the headers
        slow_body = _connect(bot.port)
        slow_body.sendall(HEAD + b"Content-Length: 1000\r\n\r\n{")
        assert _closed_within(slow_header, 5) < 5
        assert _closed_within(slow_body, 5) < 5
        slow_header.close()
        slow_body.close()
        assert bot.client.get(bot.base + "/healthz").status_code == 200


def test_connections_past_the_cap_get_503_and_the_server_keeps_serving(
    api: WebhookFakeApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = webhook_settings(api, tmp_path, BRIEFING_DIGEST_WEBHOOK__MAX_OPEN_CONNECTIONS="4")
    with WebhookBot(settings, api, CountingEngine(pipeline)) as bot:
        bot.client.close()  # its keep-alive connection would count too
        held = [_connect(bot.port) for _ in range(4)]
        for sock in held:
            sock.sendall(HEAD)
        extra = _connect(bot.port)
        extra.settimeout(10)
        answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"too many connections" in answer
        extra.close()
        for sock in held:
            sock.close()
        metrics = bot.app.bot_data["services"].metrics
        assert metrics.value("webhook_connections_refused_total") == 1
        # Once the held ones are gone, new connections are served again.
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(bot.base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "never served again"
            time.sleep(0.05)


def test_the_cap_stays_below_the_open_file_limit() -> None:
    assert connection_cap(512, 4096) == 512
    assert connection_cap(2000, 1024) == 1024 - RESERVED_FDS
    assert connection_cap(512, 64) == 1


def test_one_error_repeated_is_logged_once_per_interval_with_the_count() -> None:
    now = [0.0]
    repeat = RepeatFilter(interval_s=60, burst=3, clock=lambda: now[0])
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep()
    handler.addFilter(repeat)
    logger = logging.getLogger("test.flood")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for _ in range(1000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logger.exception("Exception in callback %r", "accept_handler")
        logger.error("another error")
        logger.info("info is never held back")
        logger.info("info is never held back")
        now[0] = 61.0
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            logger.exception("Exception in callback %r", "accept_handler")
    finally:
        logger.removeHandler(handler)
    assert records == [
        "Exception in callback 'accept_handler'",
        "Exception in callback 'accept_handler'",
        "Exception in callback 'accept_handler'",
        "another error",
        "info is never held back",
        "info is never held back",
        "Exception in callback 'accept_handler' (and 997 more like it before)",
    ]


def test_a_flood_of_slow_connections_under_a_low_open_file_limit(
    api: WebhookFakeApi, tmp_path: Path
) -> None:
    """The attack from the report, scaled down: more slow-header connections than the process
    may open files. The server stays up, refuses the excess with 503, drops the slow ones after
    the header timeout, takes updates again, and its log stays small."""
    limit, flood = 256, 300
    port = free_port()
    log = tmp_path / "bot.log"
    env = {
        **os.environ,
        **webhook_env(
            api,
            tmp_path / "data",
            port,
            BRIEFING_DIGEST_WEBHOOK__HEADER_TIMEOUT_S="2",
            BRIEFING_DIGEST_WEBHOOK__MAX_OPEN_CONNECTIONS="1000",
        ),
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "-v", "bot", "--webhook"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=low_limit,
        )
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    try:
        _until_true(lambda: _status(base + "/readyz") == 200, "the bot ready", log)
        for _ in range(flood):
            sock = _connect(port)
            with contextlib.suppress(OSError):
                sock.sendall(HEAD)
            held.append(sock)
        assert process.poll() is None, log.read_text()[-2000:]
        # Held connections are cut after the header timeout; then updates get through again.
        update = api.update(FakeUser(611), "/start")
        _until_true(
            lambda: _status(base + "/telegram", update) == 200, "an update accepted", log
        )
        api.wait_for(lambda: api.bot_messages(611), what="the answer to /start")
    finally:
        for sock in held:
            sock.close()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    text = log.read_text()
    assert "Too many open files" not in text
    assert f"at most {limit - RESERVED_FDS} connections" in text
    assert len(text) < 200_000


def _status(url: str, update: dict[str, object] | None = None) -> int:
    try:
        if update is None:
            return httpx.get(url, timeout=2).status_code
        return httpx.post(
            url, json=update, headers={SECRET_HEADER: SECRET}, timeout=2
        ).status_code
    except httpx.HTTPError:
        return 0


def _until_true(probe: Callable[[], bool], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
