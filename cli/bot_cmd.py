"""``briefing-digest bot``: run the Telegram bot (long polling)."""

from __future__ import annotations

import argparse
import logging

from cli.options import settings_from


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bot",
        help="run the Telegram bot (token from TELEGRAM_BOT_TOKEN)",
        description="Run the Telegram bot with long polling. The token is read from the "
        "TELEGRAM_BOT_TOKEN environment variable only.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the other sub-commands need not load python-telegram-bot.
    from bot.app import build_application, protect_logs, run_polling, token_from_env

    # The token first: a missing or malformed one is reported before anything starts.
    token = token_from_env()
    protect_logs(token)
    settings = settings_from(args)
    if settings.telegram.mode != "polling":
        raise ValueError(
            f'telegram.mode = "{settings.telegram.mode}" is not available in this version; '
            'use mode = "polling"'
        )
    logging.getLogger(__name__).info("data directory: %s", settings.storage.dir)
    run_polling(build_application(settings, token))
    return 0
