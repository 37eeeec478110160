"""Batch bookkeeping: inputs expanded, outputs named and written atomically, results cached by
content, and one run at a time per output folder.

The digests themselves are made in worker processes (workers/batch.py runs the batch through
the worker pool); nothing here parses an input.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from digest.errors import DigestError
from digest.ingest import SUPPORTED_EXTENSIONS
from digest.render import EXTENSIONS
from settings.schema import Settings

log = logging.getLogger(__name__)
CACHE_FILE = ".briefing-digest-cache.json"
LOCK_FILE = ".briefing-digest.lock"


@dataclass(frozen=True, slots=True)
class BatchOptions:
    out_dir: Path
    languages: tuple[str, ...]
    formats: tuple[str, ...]
    engine: str | None = None
    jobs: int = 1
    force: bool = False

    def outputs(self, stem: str) -> dict[tuple[str, str], Path]:
        """(language, format) -> the file it is written to."""
        return {
            (lang, fmt): self.out_dir / f"{stem}.{lang}{EXTENSIONS[fmt]}"
            for lang in self.languages
            for fmt in self.formats
        }


class FileStatus(StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    status: FileStatus
    outputs: tuple[Path, ...] = ()
    error: str = ""


@dataclass(slots=True)
class BatchReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == FileStatus.FAILED]


class InputError(DigestError):
    """An input argument matches no readable file."""


class OutputDirError(DigestError):
    """The output folder cannot be created or written to."""


class OutputBusyError(DigestError):
    """Another batch run holds the output folder."""


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files as given; folders searched recursively for supported files; globs expanded."""
    found: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        elif path.exists() or not glob.has_magic(raw):
            # A missing file is reported per file, like any other failure.
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"{raw}: no files match")
            found += matches
    return list(dict.fromkeys(found))


def output_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """Output names from input stems; inputs that share a stem get a short path hash."""
    seen: dict[str, int] = {}
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
    return {
        p: p.stem
        if seen[p.stem] == 1
        else f"{p.stem}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
        for p in paths
    }


def settings_fingerprint(settings: Settings, options: BatchOptions) -> str:
    relevant = {
        "settings": settings.model_dump(
            mode="json",
            # [models] and [llm] choose the weights and the backend that write the digest.
            include={"summary", "language", "translation", "summarisation", "models", "llm"},
        ),
        "languages": options.languages,
        "formats": options.formats,
        "engine": options.engine,
        # Edited taxonomy, glossary or labels change the digests too.
        "prompts": _tree_hash(settings.paths.prompts_dir),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputDirError(f"{out_dir}: the output folder is a file") from None
    except OSError as exc:
        raise OutputDirError(_cannot_write(out_dir, exc)) from None


class OutputLock:
    """An exclusive ``flock`` on the output folder's lock file for the whole run.

    A second run into the same folder is refused with one line rather than merged: both
    would write the same outputs, and refusing is simple and obviously correct. The kernel
    drops the lock when its holder dies, so a killed run never leaves the folder locked.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def __enter__(self) -> OutputLock:
        try:
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise OutputDirError(_cannot_write(self.path.parent, exc)) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise OutputDirError(_cannot_write(self.path.parent, exc)) from None
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise OutputBusyError(
                f"{self.path.parent}: another batch run is writing to this folder{who}; "
                "wait for it to finish or choose another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None


class BatchCache:
    """Content keys of digested inputs, by absolute path, in the output folder.

    Entries that are not what this code writes (hand edits, another version) are ignored.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / CACHE_FILE
        self._entries: dict[str, dict[str, Any]] = {}

    def load(self) -> BatchCache:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            self._entries = {
                k: v
                for k, v in data.items()
                if isinstance(v, dict) and isinstance(v.get("key"), str)
            }
        return self

    def key(self, path: Path) -> str | None:
        entry = self._entries.get(str(path.resolve()))
        return entry["key"] if entry else None

    def record(self, path: Path, key: str, outputs: Sequence[Path]) -> None:
        self._entries[str(path.resolve())] = {"key": key, "outputs": [str(o) for o in outputs]}

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self._entries, ensure_ascii=False, indent=1))


def write_atomic(target: Path, text: str) -> None:
    """Readers see the old file or the whole new one, never a part: a temporary file of this
    run's own in the same folder, renamed over the target."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cannot_write(folder: Path, exc: OSError) -> str:
    return f"{folder}: cannot write to the output folder ({exc.strerror or exc})"
