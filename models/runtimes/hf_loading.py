"""Find, load and keep Hugging Face seq2seq models: the one loading path every model takes.

A model is named in ``config.toml`` by hub id (``Helsinki-NLP/opus-mt-en-hi``) or by local
directory. Loading never downloads: a model is read from a local directory, from
``[models] cache_dir`` (``DIR/owner--name`` as ``models download --dir`` lays it out, or a
Hugging Face cache there) or from the Hugging Face cache. A missing model raises
:class:`ModelUnavailableError` naming it and the command that fetches it, so the pipeline
can fall back to the offline engine; ``HF_HUB_OFFLINE=1`` therefore changes nothing here.

Loaded models live in one shared, thread-safe cache with a memory budget; the least
recently used model is dropped when a new one would not fit. With ``[models] backend`` "auto"
(or "ctranslate2") the cache loads a model's CTranslate2 conversion instead, when there is one
(:mod:`models.runtimes.ct2_backend`); the tokenizer and config are still read here.

torch and transformers are imported only when a model is loaded: checking which models are
present (what the offline path does when it asks for a translator) stays light.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.base import ModelUnavailableError, Remedy, error_line
from models.runtimes import backends
from settings.schema import GenerationSettings, ModelsSettings

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Tokenizers report this (or larger) when they do not know the model's limit.
_UNKNOWN_LENGTH = 100_000
# T5-family models have relative positions and no hard limit; they were trained on 512.
_DEFAULT_WINDOW = 512
_MB = 1024 * 1024


def download_command(name: str) -> str:
    return f"briefing-digest models download {name}"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def is_local_name(name: str) -> bool:
    """A directory rather than a hub id: it exists, or is written as a path."""
    if name.startswith(("/", ".", "~")) or "\\" in name:
        return True
    if Path(name).expanduser().is_dir():
        return True
    return not _HUB_ID.match(name)


def local_dir_name(name: str) -> str:
    """``owner/name`` as a directory name: ``owner--name`` (as ``models download --dir`` writes)."""
    return name.replace("/", "--")


def resolve_model(name: str, cache_dir: str = "") -> Path:
    """The local directory holding model ``name``; never touches the network."""
    if is_local_name(name):
        path = Path(name).expanduser()
        if not path.is_dir():
            raise ModelUnavailableError(
                f"model directory {name} does not exist; point the configuration at a model "
                f"directory, or fetch a hub model with: briefing-digest models download "
                f"HUB_ID --dir DIR",
                Remedy(
                    f"model directory {name}", "briefing-digest models download HUB_ID --dir DIR"
                ),
            )
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(f"model directory {name} has no config.json")
        return path
    if cache_dir:
        candidate = Path(cache_dir).expanduser() / local_dir_name(name)
        if (candidate / "config.json").is_file():
            return candidate
    if importlib.util.find_spec("huggingface_hub") is not None:  # core installs lack it
        from huggingface_hub import try_to_load_from_cache

        for cache in dict.fromkeys([cache_dir or None, None]):
            found = try_to_load_from_cache(name, "config.json", cache_dir=cache)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found).parent
    where = f"{cache_dir} and the Hugging Face cache" if cache_dir else "the Hugging Face cache"
    offline = (
        " (HF_HUB_OFFLINE is set: download it on a connected machine)" if hub_offline() else ""
    )
    raise ModelUnavailableError(
        f"model {name} is not downloaded (looked in {where}){offline}; "
        f"fetch it with: {download_command(name)}",
        Remedy(f"model {name}", download_command(name)),
    )


def is_present(name: str, cache_dir: str = "") -> bool:
    try:
        resolve_model(name, cache_dir)
    except ModelUnavailableError:
        return False
    return True


def weights_size(path: Path) -> int:
    """Bytes of weight files in a model directory (what loading it will roughly take)."""
    files = [p for p in path.iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES)]
    safetensors = [p for p in files if p.name.endswith(".safetensors")]
    # A repository may hold the same weights twice (.bin and .safetensors); only one is read.
    return sum(p.stat().st_size for p in (safetensors or files))


def choose_device(wanted: str) -> str:
    if wanted == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if wanted == "cuda":
        log.warning("device 'cuda' is configured but CUDA is not available: using the CPU")
    return "cpu"


def generation_for(
    name: str, base: GenerationSettings, overrides: Mapping[str, Mapping[str, Any]]
) -> GenerationSettings:
    """The task's generation settings with ``[models.generation."NAME"]`` laid over them."""
    extra = overrides.get(name)
    return base.model_copy(update=dict(extra)) if extra else base


@dataclass(eq=False)
class LoadedModel:
    name: str
    path: Path
    tokenizer: Any
    model: Any
    device: str
    # "marian", "m2m_100", "nllb", "t5", "mt5", "bart", ... (config.model_type; NLLB by tokenizer).
    family: str
    size_bytes: int
    # Longest input (tokens, special tokens included) the model takes.
    max_input_tokens: int
    load_seconds: float = 0.0
    # Which runtime generates: "transformers", or "ctranslate2-<type>" for a converted model.
    backend: str = "transformers"
    # Values derived from the model once and kept with it (e.g. ids that are never text).
    extras: dict[str, Any] = field(default_factory=dict)
    # Held while the tokenizer's state is set and the model generates (tokenizers with a
    # source language are stateful).
    lock: threading.RLock = field(default_factory=threading.RLock)

    def window(self, override: int = 0) -> int:
        """The input limit, lowered (or, for models without position tables, raised) by config."""
        if override <= 0:
            return self.max_input_tokens
        positions = getattr(self.model.config, "max_position_embeddings", None)
        return min(override, positions) if positions else override


def model_family(config: Any, tokenizer: Any) -> str:
    family = str(getattr(config, "model_type", "unknown"))
    if family == "m2m_100" and "Nllb" in type(tokenizer).__name__:
        return "nllb"
    return family


def input_limit(config: Any, tokenizer: Any) -> int:
    limits = []
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < _UNKNOWN_LENGTH:
        limits.append(tokenizer_limit)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else _DEFAULT_WINDOW


def load_tokenizer_and_config(
    name: str, path: Path, *, with_model: bool = False
) -> tuple[Any, Any, Any]:
    """(config, tokenizer, model or None) from a local directory; every backend reads its
    tokenizer and config here."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    model = None
    try:
        with warnings.catch_warnings():
            # MarianTokenizer asks for sacremoses on every load; docs/models.md recommends it.
            warnings.filterwarnings("ignore", message=".*sacremoses.*")
            config = AutoConfig.from_pretrained(path, local_files_only=True)
            if not getattr(config, "is_encoder_decoder", False):
                raise ValueError(f"{config.model_type} is not an encoder-decoder (seq2seq) model")
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if with_model:
                model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # corrupt weights, unknown architecture, missing files: say which
        reason = error_line(exc)
        raise ModelUnavailableError(
            f"model {name} at {path} could not be loaded: {reason}; "
            f"fetch it again with: {download_command(name)}"
        ) from exc
    return config, tokenizer, model


def load_model(name: str, path: Path, device: str) -> LoadedModel:
    """Tokenizer and model from a local directory, in eval mode on ``device``."""
    started = time.perf_counter()
    config, tokenizer, model = load_tokenizer_and_config(name, path, with_model=True)
    model.eval()
    model.to(device)
    size = sum(t.numel() * t.element_size() for t in model.parameters())
    size += sum(t.numel() * t.element_size() for t in model.buffers())
    loaded = LoadedModel(
        name=name,
        path=path,
        tokenizer=tokenizer,
        model=model,
        device=device,
        family=model_family(config, tokenizer),
        size_bytes=size,
        max_input_tokens=input_limit(config, tokenizer),
        load_seconds=time.perf_counter() - started,
    )
    log.info(
        "model loaded",
        extra={
            "model": name,
            "family": loaded.family,
            "device": device,
            "mb": round(size / _MB, 1),
            "seconds": round(loaded.load_seconds, 2),
        },
    )
    return loaded


class ModelCache:
    """Loaded models by directory, least recently used first; thread-safe.

    Each model is loaded once even when several threads ask for it at the same time; other
    models load in parallel. Above ``memory_budget_mb`` the least recently used models are
    dropped (a thread still using one keeps its reference until it is done).
    """

    def __init__(self, settings: ModelsSettings) -> None:
        self.settings = settings
        self.budget_bytes = settings.memory_budget_mb * _MB
        self._lock = threading.Lock()
        self._loading: dict[Path, threading.Lock] = {}
        self._models: OrderedDict[Path, LoadedModel] = OrderedDict()
        self._device: str | None = None

    @property
    def device(self) -> str:
        """The device models load on; deciding it (and the thread count) imports torch."""
        if self._device is None:
            import torch

            if self.settings.threads > 0:
                torch.set_num_threads(self.settings.threads)
            self._device = choose_device(self.settings.device)
        return self._device

    def resolve(self, name: str) -> Path:
        return resolve_model(name, self.settings.cache_dir)

    def converted(self, name: str) -> Path | None:
        """The conversion ``get(name)`` would load (``[models] backend``), or None."""
        chosen = backends.select(name, self.resolve(name).resolve(), self.settings)
        return chosen[1] if chosen else None

    def backend(self, name: str) -> str:
        """The runtime ``get(name)`` would use, without loading: for routes and logs."""
        chosen = backends.select(name, self.resolve(name).resolve(), self.settings)
        return chosen[0].label(self.settings) if chosen else "transformers"

    def get(self, name: str) -> LoadedModel:
        path = self.resolve(name).resolve()
        # A converted model is cached under its own directory: both may be loaded at once.
        chosen = backends.select(name, path, self.settings)
        key = chosen[1] if chosen else path
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
                self._evict(incoming=weights_size(key))
            if chosen is not None:
                # Not self.device: that imports torch, which a converted backend may not need.
                loaded = chosen[0].load(name, path, chosen[1], self.settings)
            else:
                loaded = load_model(name, path, self.device)
            with self._lock:
                self._models[key] = loaded
                self._evict(keep=key)
                self._loading.pop(key, None)
        return loaded

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def used_bytes(self) -> int:
        with self._lock:
            return sum(m.size_bytes for m in self._models.values())

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def _evict(self, incoming: int = 0, keep: Path | None = None) -> None:
        """Drop least recently used models until ``incoming`` more bytes fit (caller locks)."""
        used = sum(m.size_bytes for m in self._models.values())
        for path in list(self._models):
            if used + incoming <= self.budget_bytes:
                break
            if path == keep:
                continue
            dropped = self._models.pop(path)
            used -= dropped.size_bytes
            log.info(
                "model evicted", extra={"model": dropped.name, "mb": dropped.size_bytes // _MB}
            )
        if keep is not None and used > self.budget_bytes:
            log.warning(
                "loaded models exceed the memory budget",
                extra={"mb": used // _MB, "budget_mb": self.budget_bytes // _MB},
            )


_SHARED: dict[tuple[Any, ...], ModelCache] = {}
_SHARED_LOCK = threading.Lock()


def shared_cache(settings: ModelsSettings) -> ModelCache:
    """The process-wide cache for these settings (every registry and command shares it)."""
    key = (
        settings.device,
        settings.threads,
        settings.memory_budget_mb,
        settings.cache_dir,
        settings.backend,
        settings.ct2_compute_type,
        settings.ct2_inter_threads,
        settings.ct2_intra_threads,
        settings.ct2_dir,
    )
    with _SHARED_LOCK:
        cache = _SHARED.get(key)
        if cache is None:
            cache = _SHARED[key] = ModelCache(settings)
        return cache
