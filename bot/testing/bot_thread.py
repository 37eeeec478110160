"""The real bot Application run in a thread with an event loop of its own, for tests and
benchmarks: ``with`` starts it (polling or webhook, as the subclass says) and stops it when
the block ends; an error in the bot's thread is raised in the caller's."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from bot.app import BotApp, build_application, stop
from bot.fetch_url import AddressCheck
from bot.testing.fake_bot_api import FakeBotApi
from settings import Settings

# How long starting and stopping may take before the harness gives up (seconds).
_START_S = _STOP_S = 30
# In-flight updates get this long to finish when the bot stops (seconds).
_GRACE_S = 10


class BotThread:
    """Builds the Application for ``settings`` against ``api``; digests are made by
    ``engine`` in the bot's job threads, or by ``digester`` (a worker pool) when given."""

    thread_name = "bot-under-test"

    def __init__(
        self,
        settings: Settings,
        api: FakeBotApi,
        engine: Any = None,
        *,
        digester: Any = None,
        address_check: AddressCheck | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.engine = engine
        self.digester = digester
        self.address_check = address_check
        self.app: Any = None
        self._loop = asyncio.new_event_loop()
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=self.thread_name, daemon=True)

    async def _start(self, app: BotApp) -> None:
        """Start serving ``app`` (polling or webhook)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(_START_S):
            raise AssertionError(f"the bot did not start within {_START_S} s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stopping is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(_STOP_S)
        assert not self._thread.is_alive(), f"the bot did not stop within {_STOP_S} s"
        if self._error is not None and exc[0] is None:
            raise self._error

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced in the test thread
            self._error = exc
        finally:
            self._ready.set()
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self.app = build_application(
            self.settings,
            self.api.token,
            engine=self.engine,
            digester=self.digester,
            address_check=self.address_check,
        )
        try:
            await self._start(self.app)
            self._ready.set()
            await self._stopping.wait()
        finally:
            await stop(self.app, grace=_GRACE_S)
