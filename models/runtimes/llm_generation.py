"""One answer from a chat LLM with transformers: the chat rendered and encoded, greedy (or
sampled) generation under the request's deadline, stopped at the end of the JSON object, and
the speeds it ran at folded into the model's estimates."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteriaList

from models.runtimes.causal_lm import LoadedLlm
from models.runtimes.chat_tokens import render_chat
from models.runtimes.llm_speed import (
    OverBudgetError,
    check_time_left,
    expected_answer,
    update_answer_length,
    update_speeds,
)
from models.runtimes.llm_stopping import (
    CallbackStreamer,
    DeadlineCriteria,
    JsonEndCriteria,
    TextCallback,
)
from settings.schema import LlmSettings

log = logging.getLogger(__name__)

# End-of-turn tokens of common chat templates (ChatML, Llama 3, Gemma).
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>")


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    seconds: float


def generate(
    loaded: LoadedLlm,
    messages: Sequence[Mapping[str, str]],
    settings: LlmSettings,
    deadline: float,
    on_text: TextCallback | None = None,
    topics: int = 0,
) -> Generation:
    """One answer to ``messages`` (``topics``: how many topics it should cover, for the
    expected answer length); raises :class:`OverBudgetError` past the deadline (or before
    starting, when it cannot finish in time)."""
    tokenizer, model = loaded.tokenizer, loaded.model
    prompt = render_chat(tokenizer, messages)
    encoded = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    input_ids = encoded["input_ids"].to(loaded.device)
    attention = encoded["attention_mask"].to(loaded.device)
    prompt_length = input_ids.shape[1]
    timer = DeadlineCriteria(deadline)
    criteria = StoppingCriteriaList([timer, JsonEndCriteria(tokenizer, prompt_length)])
    config = generation_config(loaded, settings)
    streamer = CallbackStreamer(tokenizer, on_text) if on_text else None
    with loaded.lock, torch.inference_mode():
        # Checked once the model is ours: waiting for another request's turn counts.
        check_time_left(loaded, prompt_length, expected_answer(loaded, topics), deadline)
        started = time.monotonic()
        output = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            generation_config=config,
            stopping_criteria=criteria,
            streamer=streamer,
            tokenizer=tokenizer,
        )
        seconds = time.monotonic() - started
        new = output[0, prompt_length:]
        new_tokens = int(new.shape[0])
        update_speeds(
            loaded, started, timer.first_step, timer.last_step, timer.steps, prompt_length
        )
        update_answer_length(loaded, new_tokens, topics, finished=not timer.expired)
    text = tokenizer.decode(new, skip_special_tokens=True)
    log.info(
        "llm generated",
        extra={
            "model": loaded.name,
            "prompt_tokens": prompt_length,
            "new_tokens": new_tokens,
            "seconds": round(seconds, 2),
            "prefill_tok_s": round(loaded.prefill_tok_s, 1),
            "decode_tok_s": round(loaded.decode_tok_s, 2),
            "timed_out": timer.expired,
        },
    )
    if timer.expired:
        raise OverBudgetError(
            f"stopped after {new_tokens} new tokens, prompt {prompt_length} tokens"
        )
    return Generation(text, prompt_length, new_tokens, seconds)


def generation_config(loaded: LoadedLlm, settings: LlmSettings) -> GenerationConfig:
    """Greedy at temperature 0, else sampled; ends at the model's end-of-answer tokens."""
    tokenizer = loaded.tokenizer
    base = getattr(loaded.model, "generation_config", None)
    eos = end_ids(tokenizer, base)
    sampled = settings.temperature > 0
    values: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "do_sample": sampled,
        "eos_token_id": eos or None,
        "pad_token_id": pad_id(tokenizer, eos),
        "repetition_penalty": settings.repetition_penalty,
    }
    if sampled:
        values["temperature"] = settings.temperature
        values["top_p"] = settings.top_p
    stops = [s for s in settings.stop_strings if s]
    if stops:
        values["stop_strings"] = stops
    return GenerationConfig(**values)


def pad_id(tokenizer: Any, eos: Sequence[int]) -> int | None:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return eos[0] if eos else None


def end_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    """Token ids that end the answer: the model's eos ids, the tokenizer's, and the chat
    template's end-of-turn token when the vocabulary has one."""
    ids: list[int] = []
    configured = getattr(generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.append(configured)
    elif isinstance(configured, list):
        ids.extend(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for marker in _END_OF_TURN:
        if marker in vocab:
            ids.append(int(vocab[marker]))
    return list(dict.fromkeys(ids))
