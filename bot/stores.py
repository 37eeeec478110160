"""The interfaces the bot's state stores share: SQLite (one process) or Redis (many).

:class:`StateStore` is what ``bot/store.py`` (SQLite) and ``bot/redis_store.py`` both offer;
the job queue (``JobQueue`` in ``bot/jobs.py``), the update ledger (``UpdateLedger`` in
``bot/updates.py``), the rate limit (``UserRateLimit`` in ``bot/ratelimit.py``) and the paste
gatherer (``Gatherer`` in ``bot/gather.py``) have theirs beside their first implementation.
The bot picks the implementations once, in ``bot/app.py``; the handlers only see these.
"""

from __future__ import annotations

from typing import Protocol

from bot.rendering import RenderedDigest
from bot.store import View


class StateStore(Protocol):
    """Chat settings, digests and their views; every call may block (run it in a thread)."""

    # The last failed write, for /readyz; None once one works.
    write_error: str | None

    def close(self) -> None: ...

    def chat_languages(self, chat_id: int) -> list[str] | None: ...

    def set_chat_languages(self, chat_id: int, languages: list[str]) -> None: ...

    def toggle_chat_language(
        self, chat_id: int, lang: str, current: list[str]
    ) -> list[str] | None: ...

    def save_digest(self, digest: RenderedDigest, chat_id: int) -> None: ...

    def digest(self, digest_id: str) -> RenderedDigest | None: ...

    def save_view(self, view: View) -> None: ...

    def view(self, view_id: str) -> View | None: ...
