"""When a chat LLM stops writing, and who sees the answer as it comes: transformers stopping
criteria for a wall-clock deadline and for the end of a JSON object, and a throttled
streamer that hands the text so far to a callback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import StoppingCriteria, TextStreamer

log = logging.getLogger(__name__)

# Streaming callbacks are called at most this often (seconds).
_STREAM_INTERVAL_S = 0.5

TextCallback = Callable[[str], None]


class DeadlineCriteria(StoppingCriteria):
    """Stops generation at a wall-clock deadline (``time.monotonic()``) and remembers it did.

    Like ``MaxTimeCriteria`` but with one deadline shared by every call of a request (chunks
    and retries), so the whole digest stays inside the budget.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        # When the first and the latest token came (monotonic), and how many came.
        self.first_step: float | None = None
        self.last_step: float | None = None
        self.steps = 0

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        now = time.monotonic()
        if self.first_step is None:
            self.first_step = now
        self.last_step = now
        self.steps += 1
        if now >= self.deadline:
            self.expired = True
        return torch.full(
            (input_ids.shape[0],), self.expired, dtype=torch.bool, device=input_ids.device
        )


class JsonEndCriteria(StoppingCriteria):
    """Stops once the answer holds a complete top-level JSON object: whatever a model adds
    after it (an explanation, a second copy) costs time and is thrown away."""

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.seen = prompt_length
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.done = False

    def feed(self, text: str) -> bool:
        for ch in text:
            if self.done:
                break
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == "{":
                self.depth += 1
            elif ch == "}" and self.depth > 0:
                self.depth -= 1
                self.done = self.depth == 0
            elif ch == '"' and self.depth > 0:
                self.in_string = True
        return self.done

    def __call__(
        self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any
    ) -> torch.BoolTensor:
        new = input_ids[0, self.seen :].tolist()
        self.seen = input_ids.shape[1]
        if new and not self.done:
            self.feed(self.tokenizer.decode(new, skip_special_tokens=True))
        return torch.full(
            (input_ids.shape[0],), self.done, dtype=torch.bool, device=input_ids.device
        )


class CallbackStreamer(TextStreamer):
    """Hands the answer so far to a callback (e.g. a Telegram status message), throttled."""

    def __init__(self, tokenizer: Any, callback: TextCallback) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.callback = callback
        self.text = ""
        self._last = 0.0

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        self.text += text
        now = time.monotonic()
        if not stream_end and now - self._last < _STREAM_INTERVAL_S:
            return
        self._last = now
        try:
            self.callback(self.text)
        except Exception:  # a failing progress display must not stop the digest
            log.warning("llm stream callback failed", exc_info=True)
