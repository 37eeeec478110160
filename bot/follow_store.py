"""The followed sources' store, opened on the bot's own SQLite file (or the watch directory's)."""

from __future__ import annotations

from pathlib import Path

from bot.sqlite_db import connect, create_schema
from sources.sqlite_store import SCHEMA, SqliteSourceStore


def open_source_store(path: Path) -> SqliteSourceStore:
    """The store in the SQLite file at ``path`` (created if needed); StorageError in one line
    when it cannot be opened or written."""
    db = connect(path)
    create_schema(db, path, SCHEMA)
    return SqliteSourceStore(db)
