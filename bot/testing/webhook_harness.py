"""Helpers for the webhook tests (no tests here): a fake Bot API that knows setWebhook, real
``Update`` JSON, and the bot serving its webhook in a thread of its own.

The fake Bot API of :mod:`bot.testing.fake_bot_api` is extended, not changed: it records
``setWebhook`` / ``getWebhookInfo`` calls, and can hold the bot's digest messages (``hold``)
so that a test can kill the bot while a job is in the middle of being delivered; calls held
that way fail once let go, as they would for a process that no longer exists.
"""

from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path
from typing import Any

import httpx

from bot.app import BotApp, start_webhook
from bot.testing.bot_thread import BotThread
from bot.testing.fake_bot_api import ApiError, Call, FakeBotApi, FakeUser
from bot.webhook import SECRET_HEADER
from settings import Settings, load_settings

SECRET = "test-webhook_SECRET-0123456789"
PUBLIC_URL = "https://bot.example.test/telegram"


class WebhookFakeApi(FakeBotApi):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.webhook: dict[str, str] = {}
        self._ids = itertools.count(1000)
        self._held = threading.Event()
        self._held.set()
        self.holding = 0

    # -- the API -----------------------------------------------------------------------------
    def _api_setWebhook(self, call: Call) -> bool:
        if not call.params.get("url", "").startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = dict(call.params)
        return True

    def _api_getWebhookInfo(self, call: Call) -> dict[str, Any]:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def handle(
        self, method: str, params: dict[str, str], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        if (
            method in ("sendMessage", "editMessageText")
            and params.get("parse_mode") == "HTML"
            and not self._held.is_set()
        ):
            with self._cond:
                self.holding += 1
                self._cond.notify_all()
            self._held.wait(60)
            # The caller is gone by now (killed): nobody gets this message.
            raise ApiError(502, "Bad Gateway: held call let go")
        return super().handle(method, params, files)

    def hold(self) -> None:
        """From now on digest messages (HTML) are held, never delivered."""
        self._held.clear()

    def let_go(self) -> None:
        self._held.set()

    # -- updates as Telegram posts them -----------------------------------------------------
    def update(self, user: FakeUser, text: str, update_id: int | None = None) -> dict[str, Any]:
        """A real ``Update`` for a private message from ``user`` (not queued for polling)."""
        message = self.user_message(user, text, push=False)
        return {
            "update_id": next(self._ids) if update_id is None else update_id,
            "message": message.data,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_env(api: FakeBotApi, data_dir: Path, port: int = 0, **extra: str) -> dict[str, str]:
    env = {
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_file_url,
        "BRIEFING_DIGEST_DATA_DIR": str(data_dir),
        "BRIEFING_DIGEST_TELEGRAM__PASTE_GATHER_SECONDS": "0.3",
        "BRIEFING_DIGEST_TELEGRAM__RATE_LIMIT_PER_MINUTE": "1000",
        "BRIEFING_DIGEST_WEBHOOK__LISTEN": "127.0.0.1",
        "BRIEFING_DIGEST_WEBHOOK__PORT": str(port),
        "BRIEFING_DIGEST_WEBHOOK__PUBLIC_URL": PUBLIC_URL,
        "BRIEFING_DIGEST_WEBHOOK__MAX_BODY_BYTES": "20000",
    }
    env.update(extra)
    return env


def webhook_settings(api: FakeBotApi, data_dir: Path, **extra: str) -> Settings:
    return load_settings(environ=webhook_env(api, data_dir, **extra))


class WebhookBot(BotThread):
    """``with WebhookBot(settings, api, engine) as bot:`` — serves until the block ends."""

    thread_name = "webhook-bot"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.port = 0
        self.client = httpx.Client(timeout=10)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + self.settings.webhook.path

    def post(
        self, update: Any, secret: str | bytes | None = SECRET, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if secret is not None:
            headers[SECRET_HEADER] = secret
        if isinstance(update, dict):
            kwargs["json"] = update
        else:
            kwargs["content"] = update
        return self.client.post(self.url, headers=headers, **kwargs)

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        super().__exit__(*exc)

    async def _start(self, app: BotApp) -> None:
        self.port = await start_webhook(app, SECRET)
