"""What a digest job asks for and what it gives back: plain data that crosses processes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from digest.model import Digest


class OutputFormat(Enum):
    """A rendering made in the worker; TELEGRAM is the bot's list of HTML message parts."""

    MD = "md"
    JSON = "json"
    HTML = "html"
    TXT = "txt"
    TELEGRAM = "telegram"


@dataclass(frozen=True, slots=True)
class BytesSource:
    """Bytes already in hand (an upload, a fetched page); the format comes from ``name``."""

    data: bytes
    name: str


@dataclass(frozen=True, slots=True)
class PathSource:
    """A file the worker reads itself (batch): the parent never opens or parses it."""

    path: Path


@dataclass(frozen=True, slots=True)
class DigestRequest:
    source: BytesSource | PathSource
    languages: tuple[str, ...]
    formats: tuple[OutputFormat, ...] = (OutputFormat.MD,)
    engine: str | None = None
    # When set, the result carries sha256(key_salt, NUL, text) as its content key...
    key_salt: str | None = None
    # ...and a text whose key equals this one is not digested again (batch's cache).
    skip_if_key: str | None = None


@dataclass(frozen=True, slots=True)
class DigestResult:
    source_name: str
    content_key: str | None = None
    # True when the content key matched ``skip_if_key``: nothing below was computed.
    unchanged: bool = False
    source_language: str = ""
    digests: dict[str, Digest] = field(default_factory=dict)
    # language -> format value ("md", "json", "html", "txt") -> rendered text
    rendered: dict[str, dict[str, str]] = field(default_factory=dict)
    # language -> Telegram HTML message parts (when OutputFormat.TELEGRAM was asked for)
    telegram: dict[str, tuple[str, ...]] = field(default_factory=dict)
