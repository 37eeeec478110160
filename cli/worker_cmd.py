"""``briefing-digest worker``: make digests for the bot's Redis queue (backend = "redis")."""

from __future__ import annotations

import argparse
import asyncio
import logging

from cli.errors import CliError
from cli.options import settings_from


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "worker",
        help='make digests for the bot\'s Redis queue ([queue] backend = "redis")',
        description="Take digest jobs from Redis ([queue] redis_url), make them in worker "
        "processes with the [workers] limits, and send the digests through the Bot API "
        "(token from TELEGRAM_BOT_TOKEN). Run as many as needed, on any machine that reaches "
        "Redis; stop with SIGTERM.",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="worker processes to run (each with its own [workers] digest processes); their "
        "metrics are summed on [metrics] listen:port (prometheus_client multiprocess mode)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the other sub-commands need neither python-telegram-bot nor redis.
    from bot.app import TokenError, protect_logs, token_from_env

    try:
        token = token_from_env()
    except TokenError as exc:
        raise CliError(str(exc)) from None
    protect_logs(token)
    settings = settings_from(args)
    if settings.queue.backend != "redis":
        raise CliError(
            'the worker needs [queue] backend = "redis" '
            "(BRIEFING_DIGEST_QUEUE__BACKEND=redis) and [queue] redis_url"
        )
    try:
        from bot.redis_keys import RedisUnavailableError, check_reachable
        from bot.redis_worker import serve_worker
    except ImportError as exc:
        raise CliError(
            f"the worker needs the redis extra (pip install 'briefing-digest[redis]'): {exc}"
        ) from None
    try:
        check_reachable(settings.queue)
    except RedisUnavailableError as exc:
        raise CliError(str(exc)) from None
    processes = int(getattr(args, "processes", 1))
    if not 1 <= processes <= 64:
        raise CliError(f"--processes must be from 1 to 64 (got {processes})")
    if processes > 1 or settings.metrics.port:
        from bot.worker_group import run_worker_group

        return run_worker_group(settings, token, processes)
    logging.getLogger(__name__).info("worker starting")
    asyncio.run(serve_worker(settings, token))
    return 0
