"""The fake Bot API lives in :mod:`bot.testing.fake_bot_api` (benchmarks use it too)."""

from bot.testing.fake_bot_api import (
    RETRY_AFTER_S,
    ApiError,
    Call,
    FakeBotApi,
    FakeUser,
    HtmlError,
    StoredMessage,
    parse_telegram_html,
    utf16_len,
)

__all__ = [
    "RETRY_AFTER_S",
    "ApiError",
    "Call",
    "FakeBotApi",
    "FakeUser",
    "HtmlError",
    "StoredMessage",
    "parse_telegram_html",
    "utf16_len",
]
