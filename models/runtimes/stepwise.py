"""transformers' ``generate`` contract over a runtime that writes one token at a time.

The quantised CPU runtimes (CTranslate2, ONNX Runtime GenAI) each yield the answer's token
ids; :func:`generate_stepwise` turns that into what the llm engine's ``model.generate(...)``
call expects: the prompt ids followed by the new ones (an end token included when one ended
the answer), the stopping criteria called after every token with the sequence so far, and
the streamer fed the prompt and then each token. So the engine's deadline, JSON-end check,
stop strings and speed bookkeeping are the same code whichever runtime writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import torch

from models.runtimes.ct2_backend import available_cores
from settings.schema import ModelsSettings

# (prompt ids, most new tokens, end ids) -> the new token ids, one at a time.
StepSource = Callable[[list[int], int, list[int]], Iterator[int]]


class StepwiseLM:
    """The slice of ``PreTrainedModel`` the llm engine calls, over a runtime that writes one
    token at a time: subclasses say how to start writing (``start``) and how the engine's
    generation config reads in their terms (``options``)."""

    # Whether the runtime yields the end token that stops it (see generate_stepwise).
    yields_end: ClassVar[bool]

    def options(self, generation_config: Any) -> dict[str, Any]:
        raise NotImplementedError

    def start(
        self, prompt: list[int], limit: int, ends: list[int], options: dict[str, Any]
    ) -> Iterator[int]:
        raise NotImplementedError

    def generate(
        self,
        input_ids: torch.Tensor,
        generation_config: Any,
        stopping_criteria: Iterable[Any] = (),
        streamer: Any = None,
        tokenizer: Any = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One sequence (batch of 1): the prompt and the answer, as ``generate`` returns it.

        ``attention_mask`` is accepted for the call's sake: a single unpadded prompt has none
        to apply.
        """
        options = self.options(generation_config)
        with self.generating():
            return generate_stepwise(
                input_ids,
                generation_config,
                lambda prompt, limit, ends: self.start(prompt, limit, ends, options),
                stopping_criteria,
                streamer,
                tokenizer,
                yields_end=self.yields_end,
            )

    def generating(self) -> AbstractContextManager[Any]:
        """Held around each generation (a runtime that keeps state between them locks it)."""
        return nullcontext()


def generation_threads(settings: ModelsSettings) -> int:
    """Threads for one generation: the engine runs one at a time per model, so every core
    works on it (``[models] threads`` when set)."""
    cores = available_cores()
    return min(settings.threads, cores) if settings.threads > 0 else cores


def model_generation_config(path: Path) -> Any:
    """The model's own generation config (its end tokens), as ``generate`` would use it."""
    from transformers import AutoConfig, GenerationConfig

    try:
        return GenerationConfig.from_pretrained(path, local_files_only=True)
    except OSError:  # no generation_config.json: generate() derives it from config.json
        return GenerationConfig.from_model_config(
            AutoConfig.from_pretrained(path, local_files_only=True)
        )


def generate_stepwise(
    input_ids: torch.Tensor,
    generation_config: Any,
    start: StepSource,
    stopping_criteria: Iterable[Any] = (),
    streamer: Any = None,
    tokenizer: Any = None,
    *,
    yields_end: bool,
) -> torch.Tensor:
    """One sequence (batch of 1): the prompt and the answer, as ``generate`` returns it.

    ``yields_end``: whether the runtime yields the end token that stops it (ONNX Runtime
    does; CTranslate2 leaves it out, and it is added here as ``generate`` keeps it).
    """
    if input_ids.shape[0] != 1:
        raise ValueError("the quantised runtimes generate one sequence at a time")
    prompt = input_ids[0].tolist()
    limit = int(generation_config.max_new_tokens)
    criteria = list(stopping_criteria)
    criteria.extend(stop_string_criteria(generation_config, tokenizer))
    ends = end_ids(generation_config)
    sequence = torch.empty((1, len(prompt) + limit), dtype=torch.long)
    sequence[0, : len(prompt)] = input_ids[0].cpu()
    length = len(prompt)
    if streamer is not None:
        streamer.put(input_ids.cpu())  # the prompt: a skip_prompt streamer drops it
    end_set = set(ends)
    steps: Iterator[int] | None = None
    try:
        steps = start(prompt, limit, ends)
        for token in steps:
            sequence[0, length] = token
            length += 1
            if streamer is not None:
                streamer.put(sequence[0, length - 1 : length])
            if should_stop(sequence[:, :length], criteria) or length - len(prompt) >= limit:
                break
            if token in end_set:  # the engine's end tokens, which a runtime may not know all of
                break
        else:
            if not yields_end and length - len(prompt) < limit and ends:
                sequence[0, length] = ends[0]
                length += 1
    finally:
        close = getattr(steps, "close", None)
        if close is not None:
            close()  # stops decoding when the loop ended early
        if streamer is not None:
            streamer.end()
    return sequence[:, :length].clone()


def should_stop(sequence: torch.Tensor, criteria: Sequence[Any]) -> bool:
    # Every criterion is called, as transformers does: each keeps its own state (seen
    # tokens, step times) up to date.
    stops = [bool(torch.as_tensor(c(sequence, None)).any()) for c in criteria]
    return any(stops)


def end_ids(generation_config: Any) -> list[int]:
    configured = generation_config.eos_token_id
    if configured is None:
        return []
    return [int(configured)] if isinstance(configured, int) else [int(i) for i in configured]


def stop_string_criteria(generation_config: Any, tokenizer: Any) -> list[Any]:
    """transformers' own stop-string check, which ``generate`` builds from the config."""
    stops = getattr(generation_config, "stop_strings", None)
    if not stops:
        return []
    if tokenizer is None:
        raise ValueError("stop_strings need the tokenizer")
    from transformers.generation.stopping_criteria import StopStringCriteria

    return [StopStringCriteria(tokenizer, stops)]


def split_first_turn(prompt: list[int], ends: Sequence[int]) -> tuple[list[int], list[int]]:
    """(the prompt through its first end-of-turn token, the rest); ([], prompt) when the
    prompt has no such turn or nothing after it."""
    end_set = set(ends)
    for index, token in enumerate(prompt[:-1]):
        if token in end_set:
            return prompt[: index + 1], prompt[index + 1 :]
    return [], prompt
