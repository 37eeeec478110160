"""Chat prompts as a tokenizer sees them: the rendered chat template and token counts.

The tokenizer is passed in (a transformers tokenizer, or anything with the same two
methods), so this module imports no model library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def render_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """The prompt text: messages through the tokenizer's chat template, answer turn opened."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    return text if isinstance(text, str) else str(text)


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
