"""The webhook harness lives in :mod:`bot.testing.webhook_harness` (benchmarks use it too)."""

from bot.testing.webhook_harness import (
    PUBLIC_URL,
    SECRET,
    WebhookBot,
    WebhookFakeApi,
    free_port,
    webhook_env,
    webhook_settings,
)

__all__ = [
    "PUBLIC_URL",
    "SECRET",
    "WebhookBot",
    "WebhookFakeApi",
    "free_port",
    "webhook_env",
    "webhook_settings",
]
