"""The speed model of a chat LLM: how fast it reads a prompt and writes an answer, and how
long its answers are, learnt as it runs; and the check, before a generation starts, that it
can finish before the deadline.

Estimates live on the :class:`~models.runtimes.causal_lm.LoadedLlm` (shared by every request
to that model). Pure arithmetic: no model library is imported here.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.runtimes.causal_lm import LoadedLlm

# The shortest useful answer, in tokens: a headline, and one short bullet per topic.
HEADLINE_TOKENS, BULLET_TOKENS = 30, 25


class OverBudgetError(RuntimeError):
    """The time budget ran out before the digest was written."""


def check_time_left(
    loaded: LoadedLlm, prompt_tokens: int, min_answer_tokens: int, deadline: float
) -> None:
    """Raise :class:`OverBudgetError` when no time is left, or when, at the speeds measured
    so far, reading the prompt and writing the shortest useful answer would take longer than
    what is left: better to fall back now than after the budget is spent (prompt processing
    cannot be stopped half-way)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise OverBudgetError("no time was left for another generation")
    if loaded.prefill_tok_s <= 0:
        return
    needed = prompt_tokens / loaded.prefill_tok_s
    if loaded.decode_tok_s > 0:
        needed += min_answer_tokens / loaded.decode_tok_s
    if needed > left:
        raise OverBudgetError(
            f"the {prompt_tokens}-token prompt and a ~{min_answer_tokens}-token answer would "
            f"take ~{needed:.0f} s at the speeds measured ({loaded.prefill_tok_s:.0f} and "
            f"{loaded.decode_tok_s:.1f} tokens/s), {left:.0f} s were left"
        )


def expected_answer(loaded: LoadedLlm, topics: int) -> int:
    """Answer tokens to expect for ``topics`` topics: as learnt from earlier answers, and at
    least a headline and one short bullet per topic."""
    per_topic = max(BULLET_TOKENS, loaded.answer_tokens_per_topic)
    return int(HEADLINE_TOKENS + per_topic * topics)


def update_answer_length(loaded: LoadedLlm, new_tokens: int, topics: int, finished: bool) -> None:
    """Learn the answer length per topic: from finished answers, and from answers stopped by
    the budget as a lower bound (the answer needed at least that much)."""
    if topics <= 0:
        return
    per_topic = max(0.0, (new_tokens - HEADLINE_TOKENS) / topics)
    old = loaded.answer_tokens_per_topic
    if finished:
        loaded.answer_tokens_per_topic = per_topic if old <= 0 else 0.5 * old + 0.5 * per_topic
    else:
        loaded.answer_tokens_per_topic = max(old, per_topic)


def update_speeds(
    loaded: LoadedLlm,
    started: float,
    first_step: float | None,
    last_step: float | None,
    steps: int,
    prompt_tokens: int,
) -> None:
    """Fold one generation's speeds into the model's running estimates.

    ``started``: when generation began; ``first_step`` and ``last_step``: when the first and
    the latest token came (all ``time.monotonic()``); ``steps``: how many tokens came. The
    first step includes reading the prompt, so decoding is timed from it.
    """

    def blend(old: float, new: float) -> float:
        return new if old <= 0 else 0.5 * old + 0.5 * new

    if first_step is None:
        return
    prefill = first_step - started
    if prefill > 0:
        loaded.prefill_tok_s = blend(loaded.prefill_tok_s, prompt_tokens / prefill)
    if steps > 1 and last_step is not None and last_step > first_step:
        rate = (steps - 1) / (last_step - first_step)
        loaded.decode_tok_s = blend(loaded.decode_tok_s, rate)
