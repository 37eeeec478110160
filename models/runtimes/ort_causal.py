"""ONNX Runtime GenAI for the chat LLM: 4-bit weights on the CPU.

Writing an answer reads every weight once per token, so on a CPU memory bandwidth bounds it:
int4 weights (ONNX Runtime's MatMulNBits, blocks of 128 with a scale each, int8 activations)
are a quarter of bfloat16's bytes and half of CTranslate2's int8 (docs/performance.md has the
measurements that chose it).

``briefing-digest models convert Qwen/Qwen2.5-1.5B-Instruct`` builds ``ort-int4`` beside the
model (or under ``[models] ct2_dir``) with ONNX Runtime GenAI's own model builder, and
``[llm] runtime`` chooses it (``auto``: whenever it is there). :class:`OrtCausalLM` answers the
llm engine's ``model.generate(...)`` call with transformers' contract
(:mod:`models.runtimes.stepwise`), so prompts, deadline, validation and citations are the same
code on every runtime. A float32 build gives transformers' float32 greedy tokens
(``tests/test_ort_causal.py``).

``onnxruntime_genai`` is imported only when a conversion is built or loaded.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from models.base import ModelUnavailableError, error_line
from models.runtimes.ct2_backend import (
    ConversionError,
    check_source,
    conversion_dir,
    write_in_place,
)
from models.runtimes.stepwise import (
    StepwiseLM,
    end_ids,
    generation_threads,
    model_generation_config,
    split_first_turn,
)
from settings.schema import ModelsSettings, OnnxPrecision

log = logging.getLogger(__name__)

CONVERTED_PREFIX = "ort-"
_CONFIG_FILE = "genai_config.json"
_MB = 1024 * 1024
# The builder's int4 options: int8 activations (accuracy level 4, the CPU's fast path) and
# the LM head computed for the last prompt position only (a prompt's other logits are unused).
_BUILDER_OPTIONS = ("accuracy_level=4", "block_size=128", "prune_lm_head=true")
# The builder holds a float32 copy of the model (about 8 bytes a weight): minutes at most.
_BUILD_TIMEOUT_S = 3600.0


def label(precision: str) -> str:
    """How routes and logs name this runtime: ``onnxruntime-int4``."""
    return f"onnxruntime-{precision}"


def convert_command(name: str) -> str:
    return f"briefing-digest models convert {name} --runtime onnxruntime"


def converted_dir(
    name: str, model_path: Path, settings: ModelsSettings, precision: OnnxPrecision
) -> Path:
    """Where the ``precision`` build of model ``name`` belongs (beside the CTranslate2 ones)."""
    return conversion_dir(name, model_path, settings, CONVERTED_PREFIX + precision)


def is_converted(path: Path) -> bool:
    return (path / _CONFIG_FILE).is_file()


def installed() -> bool:
    return importlib.util.find_spec("onnxruntime_genai") is not None


# -- building -----------------------------------------------------------------------------
def convert(source: Path, out: Path, precision: OnnxPrecision, force: bool = False) -> Path:
    """Build the ONNX model of the Hugging Face causal LM ``source`` into ``out``.

    Built next to ``out`` and renamed into place at the end, so a loader never sees half a
    model. Raises ConversionError (one line naming ``source``) and FileExistsError when
    ``out`` holds a build and ``force`` is not set.
    """
    check_source(source, out, force)
    if not installed():
        raise ConversionError(
            f"cannot convert {source}: onnxruntime-genai is not installed "
            '(pip install "briefing-digest[llm]")'
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-cache-", dir=out.parent) as cache:
        return write_in_place(out, lambda folder: _build(source, folder, Path(cache), precision))


def _build(source: Path, out: Path, cache: Path, precision: OnnxPrecision) -> None:
    # In a child process: the builder holds a float32 copy of the whole model, which is
    # given back to the system when it exits, and it prints progress of its own.
    command = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "--input",
        str(source),
        "--output",
        str(out),
        "--precision",
        precision,
        "--execution_provider",
        "cpu",
        "--cache_dir",
        str(cache),
        "--extra_options",
        *_BUILDER_OPTIONS,
        "hf_token=false",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=_BUILD_TIMEOUT_S,
            cwd=cache,  # not the caller's: a folder named onnxruntime_genai there breaks it
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(
            f"cannot convert {source}: the ONNX builder ran past {_BUILD_TIMEOUT_S:.0f} s"
        ) from exc
    if done.returncode < 0:
        raise ConversionError(
            f"cannot convert {source}: the ONNX builder was killed (signal {-done.returncode}); "
            "it holds a float32 copy of the model, about 8 bytes of memory a weight"
        )
    if done.returncode != 0 or not is_converted(out):
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"the builder exited with {done.returncode}"
        raise ConversionError(f"cannot convert {source}: {reason}")


# -- running ------------------------------------------------------------------------------
@dataclass(eq=False)
class _SystemTurn:
    """A generator whose state holds the system turn read once: the next request in the same
    language rewinds to it and reads only its own turn."""

    generator: Any
    tokens: list[int]
    options: tuple[tuple[str, Any], ...]
    max_length: int


@dataclass(eq=False)
class OrtCausalLM(StepwiseLM):
    """A built ONNX causal LM with the slice of ``PreTrainedModel`` the llm engine uses."""

    yields_end: ClassVar[bool] = True  # ONNX Runtime yields the end token that stops it

    model: Any
    generation_config: Any
    path: Path
    precision: str
    # Tokens a kept generator has room for (its attention cache is allocated whole), at most
    # the model's context length.
    kept_length: int = 4096
    _kept: _SystemTurn | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def backend(self) -> str:
        return label(self.precision)

    @contextmanager
    def generating(self) -> Iterator[None]:
        """One generation at a time; a generator stopped by an error is not reused."""
        with self._lock:
            try:
                yield
            except BaseException:
                self._kept = None
                raise

    def options(self, generation_config: Any) -> dict[str, Any]:
        """``set_search_options`` equivalent to the engine's generation config."""
        options: dict[str, Any] = {
            "repetition_penalty": float(generation_config.repetition_penalty or 1.0),
            "do_sample": bool(generation_config.do_sample),
        }
        if generation_config.do_sample:
            options.update(
                top_k=0,  # the whole vocabulary, as transformers' top_k=None
                top_p=float(generation_config.top_p or 1.0),
                temperature=float(generation_config.temperature or 1.0),
            )
        return options

    def start(
        self, prompt: list[int], limit: int, ends: list[int], options: dict[str, Any]
    ) -> Iterator[int]:
        system, rest = split_first_turn(prompt, ends)
        generator = self._generator_after(system, len(prompt) + limit, options)
        generator.append_tokens(rest)
        return tokens(generator)

    def _generator_after(self, system: list[int], needed: int, options: dict[str, Any]) -> Any:
        """A generator that has read ``system``: the kept one rewound to it when it is the same
        turn with the same options and room for ``needed`` tokens, else a new one."""
        import onnxruntime_genai as og

        key = tuple(sorted(options.items()))
        kept = self._kept
        if (
            kept is not None
            and system
            and kept.tokens == system
            and kept.options == key
            and kept.max_length >= needed
        ):
            kept.generator.rewind_to(len(system))
            return kept.generator
        max_length = max(needed, self.kept_length) if system else needed
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length, **options)
        generator = og.Generator(self.model, params)
        if system:
            generator.append_tokens(system)
            self._kept = _SystemTurn(generator, system, key, max_length)
        return generator


def tokens(generator: Any) -> Iterator[int]:
    """The ids a generator writes, one at a time, until it is done."""
    while not generator.is_done():
        generator.generate_next_token()
        yield int(generator.get_next_tokens()[0])


def load(name: str, path: Path, converted: Path, settings: ModelsSettings) -> OrtCausalLM:
    """The built causal LM at ``converted`` (the tokenizer stays the engine's)."""
    try:
        import onnxruntime_genai as og
    except ImportError as exc:
        raise ModelUnavailableError(
            f"LLM {name} has an ONNX build at {converted} but onnxruntime-genai is not "
            'installed: pip install "briefing-digest[llm]" (or set [llm] runtime = '
            '"transformers")'
        ) from exc
    generation = model_generation_config(path)
    started = time.perf_counter()
    try:
        config = og.Config(str(converted))
        config.clear_providers()  # the CPU
        config.overlay(json.dumps(overlay(generation, generation_threads(settings))))
        model = og.Model(config)
    except Exception as exc:  # a truncated model file, a newer format: name it and the fix
        reason = error_line(exc)
        raise ModelUnavailableError(
            f"ONNX build of LLM {name} at {converted} could not be loaded: {reason}; "
            f"build it again with: {convert_command(name)} --force"
        ) from exc
    precision = converted.name.removeprefix(CONVERTED_PREFIX)
    loaded = OrtCausalLM(model, generation, converted, precision)
    loaded.kept_length = min(loaded.kept_length, _context_length(converted))
    log.info(
        "llm conversion loaded",
        extra={
            "model": name,
            "backend": loaded.backend,
            "threads": generation_threads(settings),
            "mb": round(sum(f.stat().st_size for f in converted.iterdir()) / _MB, 1),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return loaded


def _context_length(converted: Path) -> int:
    """The longest sequence the build takes (a generator asked for more is refused)."""
    try:
        config = json.loads((converted / _CONFIG_FILE).read_text(encoding="utf-8"))
        return int(config["model"]["context_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return OrtCausalLM.kept_length


def overlay(generation: Any, thread_count: int) -> dict[str, Any]:
    """The runtime settings laid over the built ``genai_config.json``: the model's own end
    tokens (the builder may add its padding token to them) and the threads."""
    model: dict[str, Any] = {
        "decoder": {
            "session_options": {
                "intra_op_num_threads": thread_count,
                "inter_op_num_threads": 1,
            }
        }
    }
    if generation.eos_token_id is not None:
        model["eos_token_id"] = end_ids(generation)
    return {"model": model}
