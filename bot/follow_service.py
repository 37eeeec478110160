"""Followed sources' part of the bot: their store, fetcher and poster task, and its lifetime.

Kept in ``Application.bot_data`` under its own key, beside (not inside) the Services: the
store is opened with the bot's (same SQLite file as the other bot state), the poster runs
while the bot runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from bot.follow_poster import FollowPoster
from bot.follow_store import open_source_store
from bot.services import BotApp, Services
from bot.store import DB_NAME
from settings.schema import Settings
from sources.check import SafeFetcher
from sources.safe_fetch import AddressCheck
from sources.store import SourceStore

log = logging.getLogger(__name__)

FOLLOW_KEY = "follow"


@dataclass
class Following:
    store: SourceStore
    fetcher: SafeFetcher
    poster: FollowPoster | None = None
    task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        if self.poster is not None:
            self.poster.wake()


def attach(app: BotApp, settings: Settings, address_check: AddressCheck | None) -> None:
    """Open the sources' store (in bot.sqlite3) and keep it with the app."""
    if settings.fetch.allow_private_networks:
        log.warning(
            "[fetch] allow_private_networks is on: links and followed sources may reach "
            "private and loopback addresses"
        )
    store = open_source_store(settings.storage.dir / DB_NAME)
    app.bot_data[FOLLOW_KEY] = Following(store, SafeFetcher(settings, address_check))


def following(bot_data: dict[str, Any]) -> Following:
    return bot_data[FOLLOW_KEY]  # type: ignore[no-any-return]


async def start(app: BotApp, svc: Services) -> None:
    """Start checking sources and posting their new items."""
    state = following(app.bot_data)
    # The lease owner: unique per process, readable in the database.
    owner = f"{socket.gethostname()}:{os.getpid()}"
    state.poster = FollowPoster(svc, app.bot, state.store, state.fetcher, owner)
    state.task = asyncio.create_task(state.poster.run(), name="follow-poster")


async def stop(app: BotApp) -> None:
    state = app.bot_data.get(FOLLOW_KEY)
    if state is None:
        return
    if state.task is not None:
        state.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state.task
    state.store.close()
