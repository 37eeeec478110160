"""Bot state in SQLite under the data directory: per-chat settings, digests and their messages.

Everything a restart must not lose lives here: a chat's digest languages, and the rendered
digests with the messages showing them, so that the buttons under an old digest keep
working after a restart without running the pipeline again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.rendering import RenderedDigest
from bot.sqlite_db import connect, create_schema, describe

DB_NAME = "bot.sqlite3"
# Rendered digests kept for their buttons; older ones answer "no longer available".
KEEP_DIGESTS = 2000
KEEP_SECONDS = 30 * 24 * 3600
# Recently used digests kept decoded in memory: a tap on a fresh digest touches no disk.
MEMORY_DIGESTS = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat_id INTEGER PRIMARY KEY,
    languages TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (
    id TEXT PRIMARY KEY,
    chat_id INTEGER NOT NULL,
    created REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS digests_created ON digests (created);
CREATE TABLE IF NOT EXISTS views (
    id TEXT PRIMARY KEY,
    digest_id TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    message_ids TEXT NOT NULL,
    lang TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS views_digest ON views (digest_id);
"""


@dataclass(slots=True)
class View:
    """One digest as shown in a chat: its messages (the keyboard is under the last) and language."""

    id: str
    digest_id: str
    chat_id: int
    message_ids: list[int]
    lang: str


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_NAME
        # One connection shared by the event loop and worker threads, serialised by the lock;
        # every statement is short, so nobody waits long.
        self._db = connect(self.path)
        create_schema(self._db, self.path, _SCHEMA)
        self._lock = threading.Lock()
        self._memory: OrderedDict[str, RenderedDigest] = OrderedDict()
        # The last failed write ("database or disk is full"), for /readyz; None once one works.
        self.write_error: str | None = None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write under the lock; a failure is remembered for /readyz until one works."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                # Disk full, read-only, damaged: /readyz says so until a write works again.
                if not isinstance(exc, sqlite3.IntegrityError):
                    self.write_error = describe(self.path, exc)
                raise
            self.write_error = None

    # -- per-chat settings -------------------------------------------------------------
    def chat_languages(self, chat_id: int) -> list[str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT languages FROM chats WHERE chat_id = ?", (chat_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def set_chat_languages(self, chat_id: int, languages: list[str]) -> None:
        with self._writing():
            self._db.execute(
                "INSERT INTO chats (chat_id, languages, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET languages = excluded.languages, "
                "updated = excluded.updated",
                (chat_id, json.dumps(languages), time.time()),
            )

    def toggle_chat_language(self, chat_id: int, lang: str, current: list[str]) -> list[str] | None:
        """Add or remove ``lang`` atomically (two quick taps must not lose one); ``current`` is
        the chat's effective choice if none is stored. None if that would leave no language."""
        with self._writing():
            row = self._db.execute(
                "SELECT languages FROM chats WHERE chat_id = ?", (chat_id,)
            ).fetchone()
            chosen = json.loads(row[0]) if row else list(current)
            wanted = set(chosen) ^ {lang}
            if not wanted:
                return None
            # Keep the canonical order (en, hi, ru) whatever order they were tapped in.
            result = [code for code in ("en", "hi", "ru") if code in wanted]
            self._db.execute(
                "INSERT INTO chats (chat_id, languages, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (chat_id) DO UPDATE SET languages = excluded.languages, "
                "updated = excluded.updated",
                (chat_id, json.dumps(result), time.time()),
            )
            return result

    # -- digests -------------------------------------------------------------------------
    def save_digest(self, digest: RenderedDigest, chat_id: int) -> None:
        now = time.time()
        with self._writing():
            self._db.execute(
                "INSERT OR REPLACE INTO digests (id, chat_id, created, payload) "
                "VALUES (?, ?, ?, ?)",
                (digest.id, chat_id, now, digest.to_json()),
            )
            self._remember(digest)
            self._prune(now)

    def digest(self, digest_id: str) -> RenderedDigest | None:
        with self._lock:
            cached = self._memory.get(digest_id)
            if cached is not None:
                self._memory.move_to_end(digest_id)
                return cached
            row = self._db.execute(
                "SELECT payload FROM digests WHERE id = ?", (digest_id,)
            ).fetchone()
            if row is None:
                return None
            digest = RenderedDigest.from_json(row[0])
            self._remember(digest)
            return digest

    def _remember(self, digest: RenderedDigest) -> None:
        self._memory[digest.id] = digest
        self._memory.move_to_end(digest.id)
        while len(self._memory) > MEMORY_DIGESTS:
            self._memory.popitem(last=False)

    def _prune(self, now: float) -> None:
        self._db.execute(
            "DELETE FROM digests WHERE created < ? OR id NOT IN "
            "(SELECT id FROM digests ORDER BY created DESC LIMIT ?)",
            (now - KEEP_SECONDS, KEEP_DIGESTS),
        )
        self._db.execute("DELETE FROM views WHERE digest_id NOT IN (SELECT id FROM digests)")

    # -- views -------------------------------------------------------------------------
    def save_view(self, view: View) -> None:
        with self._writing():
            self._db.execute(
                "INSERT OR REPLACE INTO views (id, digest_id, chat_id, message_ids, lang, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    view.id,
                    view.digest_id,
                    view.chat_id,
                    json.dumps(view.message_ids),
                    view.lang,
                    time.time(),
                ),
            )

    def view(self, view_id: str) -> View | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, digest_id, chat_id, message_ids, lang FROM views WHERE id = ?",
                (view_id,),
            ).fetchone()
        if row is None:
            return None
        return View(row[0], row[1], row[2], json.loads(row[3]), row[4])
