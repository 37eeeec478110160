"""``briefing-digest bot``: run the Telegram bot (long polling, or a webhook with --webhook)."""

from __future__ import annotations

import argparse
import logging
import os

from cli.errors import CliError
from cli.options import settings_from


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bot",
        help="run the Telegram bot (token from TELEGRAM_BOT_TOKEN)",
        description="Run the Telegram bot, with long polling or (--webhook) a webhook server. "
        "The token is read from the TELEGRAM_BOT_TOKEN environment variable only, the webhook "
        "secret from TELEGRAM_WEBHOOK_SECRET.",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="serve a webhook ([webhook] settings) instead of polling, "
        'like [telegram] mode = "webhook"',
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the other sub-commands need not load python-telegram-bot.
    from bot.app import BotApiError, TokenError, WebhookRegistrationError
    from bot.webhook import WebhookSecretError

    try:
        return _serve(args)
    except (TokenError, BotApiError, WebhookSecretError, WebhookRegistrationError) as exc:
        raise CliError(str(exc)) from None


def _serve(args: argparse.Namespace) -> int:
    from bot.app import build_application, protect_logs, run_polling, run_webhook, token_from_env
    from bot.webhook import secret_from_env

    # The secrets first: a missing or malformed one is reported before anything starts.
    token = token_from_env()
    protect_logs(token)
    settings = settings_from(args)
    webhook = bool(getattr(args, "webhook", False)) or settings.telegram.mode == "webhook"
    grace = settings.webhook.shutdown_grace_s
    log = logging.getLogger(__name__)
    if not webhook:
        log.info("data directory: %s", settings.storage.dir)
        run_polling(build_application(settings, token), grace)
        return 0
    secret = secret_from_env(os.environ)
    protect_logs(token, secret)
    if not settings.webhook.public_url:
        raise CliError(
            "webhook.public_url is not set: the HTTPS URL Telegram posts to, e.g. "
            "BRIEFING_DIGEST_WEBHOOK__PUBLIC_URL=https://bot.example.org/telegram"
        )
    log.info("data directory: %s", settings.storage.dir)
    run_webhook(build_application(settings, token), secret, grace)
    return 0
