"""Run the real bot Application (bot.app.start/stop) in a thread of its own, for tests.

The bot gets its own event loop in a background thread and talks to the fake Bot API over
real HTTP; the test thread injects updates into the fake server and waits for the calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.app import BotApp, start
from bot.testing.bot_thread import BotThread
from digest.ingest import read_bytes
from digest.model import Digest, Document
from digest.pipeline import Progress, ProgressCallback
from digest.render import split_telegram_html
from settings import Settings, load_settings
from tests.fake_bot_api import FakeBotApi, StoredMessage

POLL_TIMEOUT_S = 1


def bot_settings(api: FakeBotApi, data_dir: Path, **env: str) -> Settings:
    """Settings as an operator would give them: through the environment."""
    environ = {
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "BRIEFING_DIGEST_DATA_DIR": str(data_dir),
        "BRIEFING_DIGEST_TELEGRAM__PASTE_GATHER_SECONDS": "0.4",
        "BRIEFING_DIGEST_TELEGRAM__RATE_LIMIT_PER_MINUTE": "100",
    }
    environ.update(env)
    return load_settings(environ=environ)


class CountingEngine:
    """The real pipeline, counting its runs, where they ran and what they were given.

    ``stage_delay`` slows each stage down (so progress edits become visible), ``gate`` holds
    every run until set (to fill the queue), ``fail_on`` makes runs on texts containing it fail.
    """

    def __init__(
        self,
        inner: Any,
        *,
        fail_on: str | None = None,
        stage_delay: float = 0.0,
        gate: threading.Event | None = None,
    ) -> None:
        self.inner = inner
        self.resources = inner.resources
        self.docs: list[Document] = []
        self.languages: list[list[str]] = []
        self.threads: list[str] = []
        self.fail_on = fail_on
        self.stage_delay = stage_delay
        self.gate = gate
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.docs)

    def run(
        self,
        doc: Document,
        languages: Sequence[str] | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Digest]:
        with self._lock:
            self.docs.append(doc)
            self.languages.append(list(languages or []))
            self.threads.append(threading.current_thread().name)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.gate is not None:
                self.gate.wait(20)
            if self.fail_on and self.fail_on in doc.text:
                raise RuntimeError("simulated engine failure")

            def report(step: Progress) -> None:
                if progress is not None:
                    progress(step)
                if self.stage_delay:
                    time.sleep(self.stage_delay)

            return self.inner.run(doc, languages, engine, report)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self.running -= 1


class RunningBot(BotThread):
    """``with RunningBot(settings, api, engine) as bot:`` — the bot polls until the block ends."""

    async def _start(self, app: BotApp) -> None:
        await start(app, poll_timeout=POLL_TIMEOUT_S)


# -- helpers for assertions ---------------------------------------------------------------------
def digest_views(api: FakeBotApi, chat_id: int) -> list[StoredMessage]:
    """The last message of each digest shown in the chat (the one carrying the buttons)."""
    return [
        m
        for m in api.bot_messages(chat_id)
        if any(data.startswith("v:") for data in m.callback_data())
    ]


def wait_digests(
    api: FakeBotApi, chat_id: int, count: int = 1, timeout: float = 20.0
) -> list[StoredMessage]:
    return api.wait_for(
        lambda: (views := digest_views(api, chat_id)) and len(views) >= count and views,
        timeout,
        what=f"{count} digest(s) in chat {chat_id}",
    )


def wait_reply(api: FakeBotApi, chat_id: int, needle: str, timeout: float = 20.0) -> StoredMessage:
    """The bot's message in ``chat_id`` whose current text contains ``needle``."""
    return api.wait_for(
        lambda: next((m for m in api.bot_messages(chat_id) if needle in (m.text or "")), None),
        timeout,
        what=f"a reply containing {needle!r} in chat {chat_id}",
    )


def view_id(message: StoredMessage) -> str:
    return next(d for d in message.callback_data() if d.startswith("v:")).split(":")[1]


def current_language(message: StoredMessage) -> str:
    rows = (message.reply_markup or {})["inline_keyboard"]
    marked = [b["callback_data"] for b in rows[0] if b["text"].startswith("✓")]
    assert len(marked) == 1, rows
    return marked[0].split(":")[2]


def expected_parts(pipeline: Any, text: str, lang: str, name: str = "message.txt") -> list[str]:
    """What the bot should show for ``text``: the same ingest and pipeline, run here."""
    doc = read_bytes(text.encode("utf-8"), name, 10_000_000)
    digests = pipeline.run(doc, ["en", "hi", "ru"])
    return split_telegram_html(digests[lang], pipeline.resources)


def view_parts(api: FakeBotApi, last: StoredMessage, count: int) -> list[StoredMessage]:
    """The ``count`` messages of the digest ending with ``last``."""
    messages = api.bot_messages(last.chat_id)
    index = next(i for i, m in enumerate(messages) if m.message_id == last.message_id)
    return messages[index - count + 1 : index + 1]
