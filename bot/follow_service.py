"""Followed sources' part of the bot: their store, fetcher and poster task, and its lifetime.

Kept in ``Application.bot_data`` under its own key, beside (not inside) the Services. The
store is chosen in ``bot/app.py`` with the other stores: SQLite (the same ``bot.sqlite3`` as
the other bot state) or, in Redis mode, ``sources/redis_store.py`` shared by every front end,
whose items are then digested by the workers (``bot/redis_follow.py``). The poster runs while
the bot runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

from bot.follow_poster import FollowPoster
from bot.services import BotApp, Services
from settings.schema import Settings
from sources.check import SafeFetcher
from sources.safe_fetch import AddressCheck
from sources.store import SourceStore
from workers import Digester

log = logging.getLogger(__name__)

FOLLOW_KEY = "follow"


def owner_name() -> str:
    """This front end, among the others: the owner of the leases it takes (host, process and
    a random part: two bots in one process, as in tests, are two owners)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Following:
    store: SourceStore
    fetcher: SafeFetcher
    owner: str
    # None: the bot's own digester (Services.digester).
    digester: Digester | None = None
    poster: FollowPoster | None = None
    task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        if self.poster is not None:
            self.poster.wake()


def attach(
    app: BotApp,
    settings: Settings,
    address_check: AddressCheck | None,
    store: SourceStore,
    owner: str,
    digester: Digester | None = None,
) -> None:
    """Keep the sources' store (opened by ``bot/app.py``) with the app."""
    if settings.fetch.allow_private_networks:
        log.warning(
            "[fetch] allow_private_networks is on: links and followed sources may reach "
            "private and loopback addresses"
        )
    app.bot_data[FOLLOW_KEY] = Following(
        store, SafeFetcher(settings, address_check), owner, digester
    )


def following(bot_data: dict[str, Any]) -> Following:
    return bot_data[FOLLOW_KEY]  # type: ignore[no-any-return]


async def start(app: BotApp, svc: Services) -> None:
    """Start checking sources and posting their new items."""
    state = following(app.bot_data)
    start_digester = getattr(state.digester, "start", None)
    if start_digester is not None:
        start_digester(asyncio.get_running_loop())
    state.poster = FollowPoster(
        svc, app.bot, state.store, state.fetcher, state.owner, state.digester
    )
    state.task = asyncio.create_task(state.poster.run(), name="follow-poster")


async def stop(app: BotApp) -> None:
    state = app.bot_data.get(FOLLOW_KEY)
    if state is None:
        return
    if state.task is not None:
        state.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state.task
    aclose = getattr(state.digester, "aclose", None)
    if aclose is not None:
        await aclose()
    await asyncio.to_thread(state.store.close)
