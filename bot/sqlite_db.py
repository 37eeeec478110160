"""One way to open the bot's SQLite files: the same pragmas, checks and one-line errors.

Both ``bot.sqlite3`` (bot/store.py) and ``queue.sqlite3`` (bot/durable_queue.py) are opened
here: WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns),
``busy_timeout`` (another connection's write waits instead of failing), and a
``PRAGMA quick_check`` at start so that a damaged file is named at once, not after the first
briefing fails. Failures become :class:`StorageError`, whose message is one line that names
the file and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from digest.errors import DigestError

BUSY_TIMEOUT_MS = 5000


class StorageError(DigestError):
    """A store cannot be opened or written; the message is one line naming the file."""


def describe(path: Path | str, exc: BaseException) -> str:
    """One line for a SQLite or OS failure on ``path``, with the likely remedy."""
    text = str(exc).strip() or type(exc).__name__
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        hint = "the file is damaged; move it aside to start afresh"
    elif "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        hint = "the data directory is not writable"
    elif "unable to open" in lowered:
        hint = "the data directory is missing or not writable"
    elif "full" in lowered or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        hint = "the disk is full"
    else:
        hint = "see the SQLite message"
    return f"{path}: {text} ({hint})"


def connect(path: Path | None) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path``; None: a private in-memory one.

    The connection is in autocommit mode (``isolation_level=None``): callers open their own
    ``BEGIN IMMEDIATE`` transactions. Raises StorageError in one line.
    """
    target = ":memory:" if path is None else str(path)
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open {describe(target, exc)}") from None
    try:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        db.close()
        raise StorageError(f"cannot use {describe(target, exc)}") from None
    return db


def create_schema(db: sqlite3.Connection, path: Path | None, schema: str) -> None:
    """Create the tables (a read-only file or full disk fails here, in one line)."""
    try:
        db.executescript(schema)
    except sqlite3.Error as exc:
        db.close()
        raise StorageError(f"cannot write {describe(path or ':memory:', exc)}") from None


@dataclass(frozen=True, slots=True)
class SpaceCheck:
    """Whether the data directory can take writes: writable and enough free space."""

    ok: bool
    reason: str = ""


def check_space(directory: Path, min_free_bytes: int) -> SpaceCheck:
    try:
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        return SpaceCheck(False, f"cannot check {directory}: {exc.strerror}")
    if free < min_free_bytes:
        return SpaceCheck(
            False,
            f"only {free / 1e6:.0f} MB free in {directory} "
            f"(at least {min_free_bytes / 1e6:.0f} MB wanted)",
        )
    if not os.access(directory, os.W_OK):
        return SpaceCheck(False, f"{directory} is not writable")
    return SpaceCheck(True)
