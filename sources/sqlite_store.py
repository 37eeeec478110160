"""The source store in SQLite: the bot's ``bot.sqlite3`` (or the watch command's directory).

The caller opens the connection (``bot/sqlite_db.py`` sets the pragmas and names a damaged
file in one line) and hands it here; every write is one ``BEGIN IMMEDIATE`` transaction, so
several processes on one file take turns, and a due source is leased to one of them.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from digest.changes import BriefingRecord
from sources.model import (
    AddOutcome,
    CheckRecord,
    Health,
    Item,
    OutboxEntry,
    OutboxKind,
    SourceSpec,
    SourceState,
    Subscription,
)
from sources.safe_fetch import Validators
from sources.store import ItemDigest

# Seen keys no longer listed by their source are forgotten after this long.
SEEN_KEEP_S = 90 * 24 * 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS follow_sources (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    pattern TEXT,
    interval_s REAL NOT NULL,
    etag TEXT,
    last_modified TEXT,
    next_check REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    failing_since REAL,
    health TEXT NOT NULL,
    last_check REAL,
    last_error TEXT,
    newest TEXT,
    initialised INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    briefing TEXT
);
CREATE TABLE IF NOT EXISTS follow_subscriptions (
    chat_id INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    added_by INTEGER,
    created REAL NOT NULL,
    PRIMARY KEY (chat_id, source_id)
);
CREATE INDEX IF NOT EXISTS follow_subscriptions_source ON follow_subscriptions (source_id);
CREATE TABLE IF NOT EXISTS follow_seen (
    source_id TEXT NOT NULL,
    key TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (source_id, key)
);
CREATE TABLE IF NOT EXISTS follow_items (
    source_id TEXT NOT NULL,
    key TEXT NOT NULL,
    ref TEXT,
    content_hash TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (source_id, key)
);
CREATE INDEX IF NOT EXISTS follow_items_hash ON follow_items (source_id, content_hash);
CREATE TABLE IF NOT EXISTS follow_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    chat_id INTEGER NOT NULL,
    -- the item's key, or for a notice what makes it unique (the check's time)
    key TEXT NOT NULL,
    item TEXT,
    detail TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    UNIQUE (kind, source_id, chat_id, key)
);
"""

_COLUMNS = (
    "id, url, pattern, interval_s, etag, last_modified, next_check, failures, failing_since, "
    "health, last_check, last_error, newest, initialised"
)


class SqliteSourceStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        """``db``: open, in autocommit mode, with :data:`SCHEMA` created."""
        self._db = db
        # One connection shared by the event loop's threads; statements are short.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- subscriptions ----------------------------------------------------------------------
    def follow(self, spec: SourceSpec, sub: Subscription, max_per_chat: int) -> AddOutcome:
        now = time.time()
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM follow_subscriptions WHERE chat_id = ? AND source_id = ?",
                (sub.chat_id, spec.id),
            ).fetchone():
                return AddOutcome.ALREADY
            (count,) = db.execute(
                "SELECT COUNT(*) FROM follow_subscriptions WHERE chat_id = ?", (sub.chat_id,)
            ).fetchone()
            if count >= max_per_chat:
                return AddOutcome.LIMIT
            db.execute(
                "INSERT OR IGNORE INTO follow_sources (id, url, pattern, interval_s, next_check, "
                "health) VALUES (?, ?, ?, ?, 0, ?)",
                # Due at once: the first check follows the subscription.
                (spec.id, spec.url, spec.pattern, spec.interval_s, Health.OK.value),
            )
            # The shortest interval any follower asked for wins.
            db.execute(
                "UPDATE follow_sources SET interval_s = MIN(interval_s, ?), "
                "next_check = MIN(next_check, ?) WHERE id = ?",
                (spec.interval_s, now + spec.interval_s, spec.id),
            )
            db.execute(
                "INSERT INTO follow_subscriptions (chat_id, source_id, added_by, created) "
                "VALUES (?, ?, ?, ?)",
                (sub.chat_id, spec.id, sub.added_by, now),
            )
            row = db.execute(
                "SELECT newest FROM follow_sources WHERE id = ? AND initialised = 1", (spec.id,)
            ).fetchone()
            if row and row[0]:
                item = _item(row[0])
                _owe(db, OutboxKind.ITEM, spec.id, [sub.chat_id], item.key, item, "", now)
            return AddOutcome.ADDED

    def unfollow(self, chat_id: int, source_id: str) -> bool:
        with self._tx() as db:
            gone = db.execute(
                "DELETE FROM follow_subscriptions WHERE chat_id = ? AND source_id = ?",
                (chat_id, source_id),
            ).rowcount
            db.execute(
                "DELETE FROM follow_outbox WHERE chat_id = ? AND source_id = ?",
                (chat_id, source_id),
            )
            if not db.execute(
                "SELECT 1 FROM follow_subscriptions WHERE source_id = ?", (source_id,)
            ).fetchone():
                for table in ("follow_seen", "follow_items", "follow_outbox"):
                    db.execute(f"DELETE FROM {table} WHERE source_id = ?", (source_id,))
                db.execute("DELETE FROM follow_sources WHERE id = ?", (source_id,))
            return bool(gone)

    def following(self, chat_id: int) -> list[SourceState]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join('s.' + c.strip() for c in _COLUMNS.split(','))} "
                "FROM follow_sources s JOIN follow_subscriptions f ON f.source_id = s.id "
                "WHERE f.chat_id = ? ORDER BY f.created, s.id",
                (chat_id,),
            ).fetchall()
        return [_state(row) for row in rows]

    def followers(self, source_id: str) -> list[int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT chat_id FROM follow_subscriptions WHERE source_id = ? ORDER BY created",
                (source_id,),
            ).fetchall()
        return [row[0] for row in rows]

    # -- checks -----------------------------------------------------------------------------
    def claim_due(
        self, now: float, owner: str, lease_s: float, limit: int, *, everything: bool = False
    ) -> list[SourceState]:
        due_by = math.inf if everything else now
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM follow_sources WHERE next_check <= ? "
                "AND (lease_until <= ? OR lease_owner = ?) ORDER BY next_check LIMIT ?",
                (due_by, now, owner, limit),
            ).fetchall()
            db.executemany(
                "UPDATE follow_sources SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, now + lease_s, row[0]) for row in rows],
            )
        return [_state(row) for row in rows]

    def seen(self, source_id: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key FROM follow_seen WHERE source_id = ? AND key IN ({marks})",
                    (source_id, *chunk),
                ).fetchall()
                found.update(row[0] for row in rows)
        return found

    def record_check(self, record: CheckRecord, owner: str) -> None:
        state, now = record.state, time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE follow_sources SET etag = ?, last_modified = ?, next_check = ?, "
                "failures = ?, failing_since = ?, health = ?, last_check = ?, last_error = ?, "
                "newest = ?, initialised = ?, lease_owner = NULL, lease_until = 0 "
                "WHERE id = ? AND (lease_owner IS NULL OR lease_owner = ?)",
                (
                    state.validators.etag,
                    state.validators.last_modified,
                    state.next_check,
                    state.failures,
                    state.failing_since,
                    state.health.value,
                    state.last_check,
                    state.last_error,
                    json.dumps(asdict(state.newest)) if state.newest else None,
                    int(state.initialised),
                    state.id,
                    owner,
                ),
            )
            # Keys still listed are refreshed; those gone from the source for SEEN_KEEP_S are
            # forgotten, so the table does not grow for ever.
            db.executemany(
                "INSERT INTO follow_seen (source_id, key, created) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id, key) DO UPDATE SET created = excluded.created",
                [(state.id, key, now) for key in record.seen_keys],
            )
            if record.seen_keys:
                db.execute(
                    "DELETE FROM follow_seen WHERE source_id = ? AND created < ?",
                    (state.id, now - SEEN_KEEP_S),
                )
            chats = [
                row[0]
                for row in db.execute(
                    "SELECT chat_id FROM follow_subscriptions WHERE source_id = ? ORDER BY created",
                    (state.id,),
                )
            ]
            if record.notice is not None and record.notice is not OutboxKind.CAPPED:
                _owe(
                    db,
                    record.notice,
                    state.id,
                    chats,
                    f"{now:.6f}",
                    None,
                    record.notice_detail,
                    now,
                )
            for item in record.new_items:
                _owe(db, OutboxKind.ITEM, state.id, chats, item.key, item, "", now)
            if record.notice is OutboxKind.CAPPED:
                # After the items, so that it is read under them.
                detail = json.dumps({"skipped": record.skipped, "truncated": record.truncated})
                _owe(db, OutboxKind.CAPPED, state.id, chats, f"{now:.6f}", None, detail, now)

    # -- what followers are owed ------------------------------------------------------------
    def outbox(self, limit: int) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, source_id, chat_id, item, detail FROM follow_outbox "
                "ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            OutboxEntry(
                row[0],
                OutboxKind(row[1]),
                row[2],
                row[3],
                _item(row[4]) if row[4] else None,
                row[5],
            )
            for row in rows
        ]

    def done(self, entry_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM follow_outbox WHERE id = ?", (entry_id,))

    def item_digest(self, source_id: str, item: Item) -> ItemDigest | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ref, content_hash FROM follow_items WHERE source_id = ? AND key = ?",
                (source_id, item.key),
            ).fetchone()
        return ItemDigest(row[0], row[1]) if row else None

    def save_item_digest(self, source_id: str, item: Item, digest: ItemDigest) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO follow_items (source_id, key, ref, content_hash, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (source_id, item.key, digest.ref, digest.content_hash, time.time()),
            )

    def is_duplicate(self, source_id: str, content_hash: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM follow_items WHERE source_id = ? AND content_hash = ?",
                (source_id, content_hash),
            ).fetchone()
        return row is not None

    def previous_briefing(self, source_id: str) -> BriefingRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT briefing FROM follow_sources WHERE id = ?", (source_id,)
            ).fetchone()
        return BriefingRecord.from_json(row[0]) if row and row[0] else None

    def save_briefing(self, source_id: str, record: BriefingRecord) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE follow_sources SET briefing = ? WHERE id = ?",
                (record.to_json(), source_id),
            )


def _owe(
    db: sqlite3.Connection,
    kind: OutboxKind,
    source_id: str,
    chats: Sequence[int],
    key: str,
    item: Item | None,
    detail: str,
    now: float,
) -> None:
    payload = json.dumps(asdict(item)) if item else None
    db.executemany(
        "INSERT OR IGNORE INTO follow_outbox (kind, source_id, chat_id, key, item, detail, "
        "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(kind.value, source_id, chat, key, payload, detail, now) for chat in chats],
    )


def _item(raw: str) -> Item:
    return Item(**json.loads(raw))


def _state(row: Sequence[Any]) -> SourceState:
    (
        _,
        url,
        pattern,
        interval,
        etag,
        modified,
        next_check,
        failures,
        since,
        health,
        last_check,
        error,
        newest,
        initialised,
    ) = row
    return SourceState(
        spec=SourceSpec(str(url), str(pattern) if pattern else None, float(interval)),
        validators=Validators(etag, modified),
        next_check=float(next_check),
        failures=int(failures),
        failing_since=since,
        health=Health(health),
        last_check=last_check,
        last_error=error,
        newest=_item(newest) if newest else None,
        initialised=bool(initialised),
    )
