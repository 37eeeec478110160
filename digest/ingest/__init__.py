"""Read an input (file, uploaded bytes or stdin) into a :class:`~digest.model.Document`.

Every problem with the input is an :class:`~digest.errors.IngestError` whose one-line
message names the input and says what is wrong. Parsers for HTML, PDF and DOCX are
imported only when such a file is read, so importing this module stays cheap.

The limits are :class:`settings.schema.IngestSettings` (``settings.ingest``); docs/limits.md
lists each with the message a user sees.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, BinaryIO

from digest.errors import IngestError
from digest.ingest.encoding import assumed_encodings, fail, finish
from digest.model import Document

if TYPE_CHECKING:
    from settings.schema import IngestSettings

__all__ = ["SUPPORTED_EXTENSIONS", "read_bytes", "read_path", "read_stdin"]

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".txt", ".md", ".html", ".htm", ".pdf", ".docx", ".srt", ".vtt"}
)
STDIN_NAME = "<stdin>"
_FORMATS = {".htm": "html"}
# Limits below this are given in bytes: in MB they would round to "0.0 MB".
_SMALL_LIMIT = 100_000


def read_path(path: Path, limits: IngestSettings | int) -> Document:
    """Read a regular file; its format comes from the extension.

    ``limits`` is ``settings.ingest``; a bare int is taken as ``max_bytes`` with the other
    limits at their defaults (for callers not yet passing the settings).
    """
    limits = _limits(limits)
    path = Path(path)
    label = str(path)
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise fail(label, "file not found") from exc
    except PermissionError as exc:
        raise fail(label, "permission denied") from exc
    except (OSError, ValueError) as exc:  # ValueError: NUL in the path
        raise fail(label, f"cannot read the file ({_os_reason(exc)})") from exc
    # Before open(): opening a FIFO without a writer blocks forever, and /dev/zero never ends.
    _require_regular(label, info)
    extension = _extension(label, path.name)
    # Checked before reading: a huge file is refused without loading it.
    if info.st_size > limits.max_bytes:
        raise fail(label, _too_large(info.st_size, limits.max_bytes))
    data = _read_regular(path, label, limits.max_bytes)
    return _document(data, label, path.name, extension, limits)


def read_bytes(data: bytes, name: str, limits: IngestSettings | int) -> Document:
    """Read uploaded bytes; the format comes from the extension of ``name`` (.txt if none)."""
    limits = _limits(limits)
    if len(data) > limits.max_bytes:
        raise fail(name, _too_large(len(data), limits.max_bytes))
    extension = _extension(name, name)
    return _document(bytes(data), name, name, extension, limits)


def read_stdin(stream: BinaryIO, limits: IngestSettings | int) -> Document:
    """Read standard input; PDF, DOCX, HTML and subtitles are recognised by their content."""
    limits = _limits(limits)
    max_bytes = limits.max_bytes
    # A text-mode stream (sys.stdin rather than sys.stdin.buffer) is accepted too.
    stream = getattr(stream, "buffer", stream)
    try:
        data = stream.read(max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise fail(STDIN_NAME, f"cannot read standard input ({_os_reason(exc)})") from exc
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise fail(STDIN_NAME, _over_limit("input", max_bytes))
    return _document(data, STDIN_NAME, STDIN_NAME, _sniff_extension(data), limits)


def _limits(limits: IngestSettings | int) -> IngestSettings:
    from settings.schema import IngestSettings  # pydantic: imported on use

    if isinstance(limits, IngestSettings):
        return limits
    return IngestSettings(max_bytes=limits)


def _require_regular(label: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise fail(label, f"not a regular file ({_file_kind(info.st_mode)})")


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((kind for test, kind in kinds if test(mode)), "a special file")


def _read_regular(path: Path, label: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` + 1 bytes of ``path``, which must still be a regular file."""
    # O_NONBLOCK: if the path was swapped for a FIFO since stat(), open() returns at once
    # and fstat() below refuses it. It has no effect on a regular file.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError as exc:
        raise fail(label, "permission denied") from exc
    except IsADirectoryError as exc:
        raise fail(label, "not a regular file (a directory)") from exc
    except OSError as exc:
        raise fail(label, f"cannot read the file ({_os_reason(exc)})") from exc
    with open(fd, "rb", closefd=True) as stream:
        try:
            _require_regular(label, os.fstat(fd))
            # One byte more than allowed tells "too large" apart from "exactly at the limit",
            # also for a file that grew since stat().
            data = stream.read(max_bytes + 1)
        except OSError as exc:
            raise fail(label, f"cannot read the file ({_os_reason(exc)})") from exc
    if len(data) > max_bytes:
        raise fail(label, _over_limit("file", max_bytes))
    return data


def _document(
    data: bytes, label: str, name: str, extension: str, limits: IngestSettings
) -> Document:
    """Extract and normalise the text; ``label`` names the input in messages."""
    if not data.strip():
        raise fail(label, "file is empty")
    try:
        with assumed_encodings() as guessed:
            text = _extract(data, label, extension, limits)
    except IngestError:
        raise
    except Exception as exc:  # a parser bug must still reach the user as a clear message
        log.debug("%s: unexpected error while reading", label, exc_info=True)
        raise fail(label, f"cannot read the file ({type(exc).__name__}: {exc})") from exc
    empty_reason = "file is empty" if extension in {".txt", ".md"} else "no text found"
    text = finish(text, label, empty_reason)
    if len(text) > limits.max_text_chars:
        raise fail(label, _text_too_long(len(text), limits.max_text_chars))
    return Document(
        name=name,
        text=text,
        format=_FORMATS.get(extension, extension[1:]),
        assumed_encoding=guessed[0] if guessed else None,
    )


def _extract(data: bytes, name: str, extension: str, limits: IngestSettings) -> str:
    # Each reader is imported on use: the PDF, DOCX and HTML ones pull in large libraries.
    if extension == ".txt":
        from digest.ingest.plain import read_text

        return read_text(data, name)
    if extension == ".md":
        from digest.ingest.plain import read_markdown

        return read_markdown(data, name)
    if extension in {".html", ".htm"}:
        from digest.ingest.web import read_html

        return read_html(data, name)
    if extension == ".pdf":
        from digest.ingest.pdf import read_pdf

        return read_pdf(data, name)
    if extension == ".docx":
        from digest.ingest.word import read_docx

        return read_docx(data, name, limits.max_docx_xml_bytes)
    from digest.ingest.subtitles import read_subtitles

    return read_subtitles(data, name)


def _extension(label: str, name: str) -> str:
    """Lower-case extension of ``name``; .txt if it has none; IngestError if unsupported."""
    extension = PurePath(name).suffix.lower() if name else ""
    if not extension:
        return ".txt"
    if extension not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise fail(label, f"unsupported file type {extension} (supported: {supported})")
    return extension


def _sniff_extension(data: bytes) -> str:
    """Guess the format of unnamed input from its first bytes; plain text by default."""
    if data.startswith(b"%PDF-"):
        return ".pdf"
    if data.startswith(b"PK\x03\x04") and b"word/" in data[:4096]:
        return ".docx"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"webvtt"):
        return ".vtt"
    if head.startswith((b"<!doctype html", b"<html")):
        return ".html"
    first_lines = head.splitlines()[:2]
    if len(first_lines) == 2 and first_lines[0].strip().isdigit() and b"-->" in first_lines[1]:
        return ".srt"
    # Anything else, binary included, goes to the text reader, which says what it is.
    return ".txt"


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _too_large(size: int, limit: int) -> str:
    if limit >= _SMALL_LIMIT and _mb(size) != _mb(limit):
        return f"file is {_mb(size)}, over the {_mb(limit)} limit"
    # In MB, a small limit reads "0.0 MB" and a size just over it "10.0 MB, over 10.0 MB".
    return f"file is {size:,} bytes, over the {limit:,}-byte limit"


def _over_limit(what: str, limit: int) -> str:
    """For inputs whose size is unknown: a pipe, or a file that grew while being read."""
    if limit >= _SMALL_LIMIT:
        return f"{what} is over the {_mb(limit)} limit"
    return f"{what} is over the {limit:,}-byte limit"


def _text_too_long(length: int, limit: int) -> str:
    return (
        f"the extracted text is {length:,} characters, over the {limit:,}-character limit "
        "(ingest.max_text_chars)"
    )


def _os_reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
