"""Loading a chat (causal) LM with transformers: the dtype to run it in, the model and its
tokenizer from a local directory or the cache (never downloaded at run time), and a
per-process cache so each model is loaded once.

:class:`LoadedLlm` also carries the speeds and answer lengths learnt while it runs
(:mod:`models.runtimes.llm_speed`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from models.base import ModelUnavailableError, error_line
from models.runtimes import ct2_causal, ort_causal
from models.runtimes.hf_loading import choose_device, download_command, resolve_model
from settings.schema import LlmRuntime, LlmSettings, ModelsSettings, OnnxPrecision

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Used when a model's config does not say how long a sequence it takes.
_DEFAULT_POSITIONS = 4096


@dataclass(eq=False)
class LoadedLlm:
    name: str
    tokenizer: Any
    model: Any
    device: str
    # Longest sequence (prompt + answer) the model takes, from its config.
    max_positions: int
    path: Path | None = None
    load_seconds: float = 0.0
    # Measured speeds (running estimates, 0 until the first generation): the prompt is read
    # at prefill_tok_s, the answer written at decode_tok_s.
    prefill_tok_s: float = 0.0
    decode_tok_s: float = 0.0
    # Answer tokens per topic, learnt from earlier answers (0 until the first).
    answer_tokens_per_topic: float = 0.0
    # One generation at a time per model: concurrent ones would only share the same cores.
    lock: threading.RLock = field(default_factory=threading.RLock)


ModelLoader = Callable[[str], LoadedLlm]


def cpu_has_bf16() -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX512-BF16 or AMX; Linux flags)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto``: bfloat16 on a GPU or a CPU with native bfloat16, else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if device == "cuda" or cpu_has_bf16() else "float32"


@dataclass(frozen=True, slots=True)
class RunChoice:
    """How the chat LLM runs, from ``[llm]``: the dtype under transformers, and which runtime
    (:func:`quantised_model`) with which ONNX build."""

    dtype: str = "auto"
    runtime: LlmRuntime = "auto"
    onnx_precision: OnnxPrecision = "int4"

    @classmethod
    def of(cls, llm: LlmSettings) -> RunChoice:
        return cls(llm.dtype, llm.runtime, llm.onnx_precision)


def load_causal_lm(name: str, models: ModelsSettings, choice: RunChoice = RunChoice()) -> LoadedLlm:
    """Tokenizer and causal LM ``name`` from a local directory or the cache; never downloads."""
    path = resolve_model(name, models.cache_dir)
    device = choose_device(models.device)
    dtype = resolve_dtype(choice.dtype, device)
    started = time.perf_counter()
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        if getattr(config, "is_encoder_decoder", False):
            raise ValueError(f"{config.model_type} is an encoder-decoder, not a causal LM")
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("its tokenizer has no chat template (not an instruction model)")
        if models.threads > 0:
            torch.set_num_threads(models.threads)
        model = quantised_model(name, path, models, choice.runtime, choice.onnx_precision)
        if model is not None:
            device, dtype = "cpu", model.backend
        else:
            model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=True, dtype=_DTYPES[dtype]
            ).eval()
            model.to(device)
    except ModelUnavailableError:  # a missing or broken conversion names its own remedy
        raise
    except Exception as exc:  # corrupt weights, unknown architecture, missing files: say which
        reason = error_line(exc)
        raise ModelUnavailableError(
            f"model {name} at {path} could not be loaded as a chat LLM: {reason}; "
            f"fetch it again with: {download_command(name)}"
        ) from exc
    positions = int(getattr(config, "max_position_embeddings", 0) or 0) or _DEFAULT_POSITIONS
    loaded = LoadedLlm(
        name, tokenizer, model, device, positions, path, time.perf_counter() - started
    )
    log.info(
        "llm loaded",
        extra={
            "model": name,
            "device": device,
            "dtype": dtype,
            "seconds": round(loaded.load_seconds, 2),
        },
    )
    return loaded


def quantised_model(
    name: str,
    path: Path,
    models: ModelsSettings,
    runtime: LlmRuntime,
    onnx_precision: OnnxPrecision = "int4",
) -> ort_causal.OrtCausalLM | ct2_causal.CT2CausalLM | None:
    """The converted model to run, or None for transformers.

    ``auto``: the ONNX build (``ort-<onnx_precision>``) when there is one and onnxruntime-genai
    is installed, else what ``[models] backend`` says for conversions (CTranslate2 when
    converted; ``[models] backend = "transformers"`` runs no conversion). ``onnxruntime`` or
    ``ctranslate2`` demand that runtime's conversion (ModelUnavailableError naming the convert
    command without it); ``transformers`` never runs a conversion.
    """
    if runtime == "transformers" or (runtime == "auto" and models.backend == "transformers"):
        return None
    if runtime in ("auto", "onnxruntime"):
        built = ort_causal.converted_dir(name, path, models, onnx_precision)
        if ort_causal.is_converted(built):
            # A demanded build without the package fails in load(), naming the install.
            if runtime == "onnxruntime" or ort_causal.installed():
                return ort_causal.load(name, path, built, models)
            log.warning(
                "llm onnx build not run: onnxruntime-genai is not installed",
                extra={"model": name, "build": str(built)},
            )
        elif runtime == "onnxruntime":
            raise ModelUnavailableError(
                f"LLM {name} has no ONNX {onnx_precision} build at {built} ([llm] runtime = "
                f'"onnxruntime"); build it with: {ort_causal.convert_command(name)}'
            )
    if runtime == "ctranslate2":
        return _demanded_ct2(name, path, models)
    converted = ct2_causal.select(name, path, models)
    return None if converted is None else ct2_causal.load(name, path, converted, models)


def _demanded_ct2(name: str, path: Path, models: ModelsSettings) -> ct2_causal.CT2CausalLM:
    converted = ct2_causal.select(name, path, models.model_copy(update={"backend": "auto"}))
    if converted is None:
        raise ModelUnavailableError(
            f"LLM {name} has no {models.ct2_compute_type} CTranslate2 conversion "
            f'([llm] runtime = "ctranslate2"); convert it with: '
            f"briefing-digest models convert {name} --runtime ctranslate2"
        )
    return ct2_causal.load(name, path, converted, models)


_CacheKey = tuple[Path, str, RunChoice]
_CACHE: dict[_CacheKey, LoadedLlm] = {}
_CACHE_LOCK = threading.Lock()
_LOADING: dict[_CacheKey, threading.Lock] = {}


def cached_causal_lm(
    name: str, models: ModelsSettings, choice: RunChoice = RunChoice()
) -> LoadedLlm:
    """:func:`load_causal_lm`, once per directory, settings and choice in this process."""
    path = resolve_model(name, models.cache_dir).resolve()
    # Every [models] setting the choice of runtime reads (backend, conversions' place and type).
    key = (path, models.model_dump_json(), choice)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        key_lock = _LOADING.setdefault(key, threading.Lock())
    with key_lock:
        with _CACHE_LOCK:
            if key in _CACHE:
                return _CACHE[key]
        loaded = load_causal_lm(name, models, choice)
        with _CACHE_LOCK:
            _CACHE[key] = loaded
            _LOADING.pop(key, None)
        return loaded


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
