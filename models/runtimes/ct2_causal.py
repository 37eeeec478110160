"""CTranslate2 for the chat LLM (Qwen2 and the other causal LMs its converter knows).

``briefing-digest models convert Qwen/Qwen2.5-1.5B-Instruct --runtime ctranslate2`` (or
without ``--runtime`` where onnxruntime-genai is not installed) writes ``ct2-int8`` beside the
model exactly as for the seq2seq models (:func:`models.runtimes.ct2_backend.converted_dir`).
``[llm] runtime`` chooses (:func:`models.runtimes.causal_lm.quantised_model`): ``auto`` runs
it when there is no ONNX build and ``[models] backend`` allows conversions.

:class:`CT2CausalLM` answers the one call the llm engine makes, ``generate(input_ids=...,
generation_config=..., stopping_criteria=..., streamer=...)``, with transformers' contract:
the prompt ids followed by the new ones (an end token included when one ended the answer),
the stopping criteria called after every token with the sequence so far, the streamer fed
the prompt and then each token. So the engine's chat template, deadline, JSON-end check,
validation, citations check and speed bookkeeping are the same code on either runtime; only
the forward passes move to int8 kernels. Greedy decoding of a float32 conversion gives
transformers' float32 tokens (``tests/test_ct2_causal.py``).

``ctranslate2`` is imported only when a conversion is loaded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from models.base import ModelUnavailableError, error_line
from models.runtimes.ct2_backend import backend_label, convert_command
from models.runtimes.ct2_backend import select as select_conversion
from models.runtimes.stepwise import (
    StepwiseLM,
    generation_threads,
    model_generation_config,
    split_first_turn,
)
from settings.schema import ModelsSettings

log = logging.getLogger(__name__)

_MODEL_FILE = "model.bin"
_MB = 1024 * 1024


def select(name: str, model_path: Path, settings: ModelsSettings) -> Path | None:
    """The conversion of the LLM ``name`` to run, or None for transformers (the seq2seq
    rules: ``[models] backend`` and ``ct2_compute_type``)."""
    return select_conversion(name, model_path, settings)


@dataclass(eq=False)
class CT2CausalLM(StepwiseLM):
    """A converted causal LM with the slice of ``PreTrainedModel`` the llm engine uses."""

    # CTranslate2 leaves out the end token that stopped it; generate() adds it back.
    yields_end: ClassVar[bool] = False

    generator: Any
    # Token string of every id (the conversion's vocabulary, in id order).
    vocabulary: list[str]
    generation_config: Any
    path: Path
    compute_type: str

    @property
    def backend(self) -> str:
        return backend_label(self.compute_type)

    def start(
        self, prompt: list[int], limit: int, ends: list[int], options: dict[str, Any]
    ) -> Iterator[int]:
        static, rest = split_first_turn(prompt, ends)
        steps = self.generator.generate_tokens(
            [self.vocabulary[i] for i in rest],
            max_length=limit,
            end_token=[self.vocabulary[i] for i in ends] or None,
            # The system turn is the same for every request in a language: CTranslate2 keeps
            # the model state after it and reads only the rest of the prompt.
            static_prompt=[self.vocabulary[i] for i in static] or None,
            cache_static_prompt=bool(static),
            **options,
        )
        return _TokenIds(steps)

    def options(self, generation_config: Any) -> dict[str, Any]:
        """generate_tokens options equivalent to the engine's generation config."""
        options: dict[str, Any] = {
            "repetition_penalty": float(generation_config.repetition_penalty or 1.0),
        }
        if generation_config.do_sample:
            options.update(
                sampling_topk=0,  # 0: the whole vocabulary, as transformers' top_k=None
                sampling_topp=float(generation_config.top_p or 1.0),
                sampling_temperature=float(generation_config.temperature or 1.0),
            )
        else:
            options["sampling_topk"] = 1  # greedy
        return options


class _TokenIds:
    """The ids of CTranslate2's step results; ``close`` stops its decoding."""

    def __init__(self, steps: Any) -> None:
        self._steps = steps

    def __iter__(self) -> Iterator[int]:
        return (step.token_id for step in self._steps)

    def close(self) -> None:
        self._steps.close()


def load(name: str, path: Path, converted: Path, settings: ModelsSettings) -> CT2CausalLM:
    """The converted causal LM at ``converted`` (the tokenizer stays the engine's)."""
    try:
        import ctranslate2
    except ImportError as exc:
        raise ModelUnavailableError(
            f"LLM {name} has a CTranslate2 conversion at {converted} but ctranslate2 is not "
            'installed: pip install "briefing-digest[llm]" (or set [llm] runtime = '
            '"transformers")'
        ) from exc

    started = time.perf_counter()
    try:
        generator = ctranslate2.Generator(
            str(converted),
            device="cpu",
            compute_type=settings.ct2_compute_type,
            inter_threads=1,
            intra_threads=generation_threads(settings),
        )
        vocabulary = _vocabulary(converted)
    except Exception as exc:  # truncated model.bin, a newer format: name it and the fix
        reason = error_line(exc)
        raise ModelUnavailableError(
            f"converted LLM {name} at {converted} could not be loaded: {reason}; "
            f"convert it again with: {convert_command(name)} --force"
        ) from exc
    generation = model_generation_config(path)
    model = CT2CausalLM(generator, vocabulary, generation, converted, settings.ct2_compute_type)
    log.info(
        "llm conversion loaded",
        extra={
            "model": name,
            "backend": model.backend,
            "threads": generation_threads(settings),
            "mb": round((converted / _MODEL_FILE).stat().st_size / _MB, 1),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return model


def _vocabulary(converted: Path) -> list[str]:
    import json

    for name in ("vocabulary.json", "shared_vocabulary.json"):
        path = converted / name
        if path.is_file():
            tokens: list[str] = json.loads(path.read_text(encoding="utf-8"))
            return tokens
    text = (converted / "vocabulary.txt").read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
