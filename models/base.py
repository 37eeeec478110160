"""The small interfaces every engine implements, whatever runtime does the work.

Engines see plain sentences with ids and return points that cite those ids; they know
nothing of files, Telegram or rendering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SourceSentence:
    id: int
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class Point:
    """One summary line and the ids of the sentences it is drawn from."""

    text: str
    source_ids: tuple[int, ...]
    # Language of ``text`` when it differs from the result's (extracts from mixed transcripts).
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    language: str
    sentences: Sequence[SourceSentence]
    # (topic id, ids of its sentences), most important topic first.
    topics: Sequence[tuple[str, Sequence[int]]]
    max_points: int = 3
    max_words: int = 45
    headline_max_words: int = 28
    # The document's own title, when it has one: the pipeline uses it as the headline.
    title_id: int | None = None


@dataclass(frozen=True, slots=True)
class Remedy:
    """What an engine lacked and the one command that provides it (shown in digest notices)."""

    missing: str
    command: str


@dataclass(frozen=True, slots=True)
class Fallback:
    """An engine that could not serve a request: the digest says what to do, in its language."""

    engine: str
    remedy: Remedy


@dataclass(frozen=True, slots=True)
class SummaryResult:
    headline: Point
    points: dict[str, list[Point]]
    # Language the points are written in (a summariser may write in English only).
    language: str
    engine: str
    notices: list[str] = field(default_factory=list)
    route: list[str] = field(default_factory=list)
    # Set when the asked-for engine could not run and another wrote this result.
    fallback: Fallback | None = None


class Summariser(Protocol):
    name: str

    def summarise(self, request: SummaryRequest) -> SummaryResult: ...


class Translator(Protocol):
    name: str

    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]: ...


def error_line(exc: BaseException) -> str:
    """An exception as one line for a message: its first line, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ModelUnavailableError(RuntimeError):
    """A configured model cannot be loaded; the message names it and how to fetch it."""

    def __init__(self, message: str, remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy

    def fix(self) -> Remedy:
        """What was missing and the command that provides it (a generic pointer when unknown)."""
        return self.remedy or Remedy(str(self), "briefing-digest models list")
