"""How far the LLM is in writing its digest: topics done of topics planned, from the answer
as it streams (the engine's ``on_text`` hook), reported at most once every 2 s.

The answer is JSON, ``{"headline": ..., "topics": [{"id": ..., "bullets": [...]}, ...]}``: a
topic is done when its object closes. The bot turns each report into its status line
(``digest.pipeline.Progress("summarising", done, planned)``), and Telegram allows only so
many edits a minute, hence the interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from models.base import SummaryRequest, SummaryResult

# The status message is edited at most this often (seconds).
REPORT_INTERVAL_S = 2.0

ProgressReport = Callable[[int, int], None]


def completed_topics(answer: str) -> int:
    """Topic objects closed so far in a (possibly partial) JSON answer: objects directly in an
    array directly in the top-level object; strings are skipped, escapes honoured."""
    stack: list[str] = []
    in_string = escaped = False
    done = 0
    for ch in answer:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            closed = stack.pop()
            if closed == "{" and stack == ["{", "["]:
                done += 1
    return done


class TopicProgress:
    """A text callback for ``LlmSummariser.summarise(request, on_text=...)`` that calls
    ``report(done, planned)`` when the count of finished topics changes, at most once every
    ``interval_s``.

    The engine may write several answers for one request (a long transcript in chunks, a
    retry): a text that does not continue the previous one starts a new answer, and the
    topics of the one before count as done (capped at ``planned``; a retried chunk may be
    counted twice, which only makes the count reach ``planned`` early).
    """

    def __init__(
        self,
        planned: int,
        report: ProgressReport,
        interval_s: float = REPORT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.planned = planned
        self._report = report
        self._interval = interval_s
        self._clock = clock
        self._text = ""
        self._earlier = 0  # topics of the answers before this one
        self._current = 0
        self._shown: int | None = None
        self._last_report: float | None = None

    @property
    def done(self) -> int:
        return min(self.planned, self._earlier + self._current)

    def __call__(self, text: str) -> None:
        if not text.startswith(self._text):
            self._earlier += self._current
        self._text = text
        self._current = completed_topics(text)
        now = self._clock()
        if self.done == self._shown:
            return
        if self._last_report is not None and now - self._last_report < self._interval:
            return
        self._last_report = now
        self._shown = self.done
        self._report(self.done, self.planned)


@runtime_checkable
class StreamingSummariser(Protocol):
    """A summariser that hands its answer to ``on_text`` as it writes it (the llm engine)."""

    name: str
    streams_answer: ClassVar[bool]

    def summarise(
        self, request: SummaryRequest, on_text: Callable[[str], None] | None = None
    ) -> SummaryResult: ...
