"""Which backend runs a model: transformers (the default, in hf_loading) or one that runs
converted models (CTranslate2). The model cache asks here; a backend plugs itself in with
:func:`register` when its module is imported.

The registry imports neither runtime at module level, so they do not import each other in a
loop: ``ct2_backend`` uses ``hf_loading``'s loading helpers, and ``hf_loading`` reaches
``ct2_backend`` only through here.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from models.runtimes.hf_loading import LoadedModel
    from settings.schema import ModelsSettings

# Modules whose import registers a backend; imported on first use (they may import torch or
# ctranslate2 lazily, never at import).
_PROVIDERS = ("models.runtimes.ct2_backend",)


class ConvertedBackend(Protocol):
    """Runs models converted from the Hugging Face checkpoints."""

    def select(self, name: str, model_path: Path, settings: ModelsSettings) -> Path | None:
        """The conversion to run for ``name``, or None for transformers.

        Raises ModelUnavailableError when the settings demand a conversion that is missing.
        """

    def label(self, settings: ModelsSettings) -> str:
        """How routes and logs name the backend (``ctranslate2-int8``)."""

    def load(
        self, name: str, path: Path, converted: Path, settings: ModelsSettings
    ) -> LoadedModel:
        """The converted model with the tokenizer and config of ``path``."""


_registered: list[ConvertedBackend] = []
_lock = threading.Lock()
_imported = False


def register(backend: ConvertedBackend) -> None:
    with _lock:
        if backend not in _registered:
            _registered.append(backend)


def converted_backends() -> list[ConvertedBackend]:
    """Every backend for converted models, their modules imported on the first call."""
    global _imported
    if not _imported:
        for module in _PROVIDERS:
            importlib.import_module(module)
        _imported = True
    with _lock:
        return list(_registered)


def select(
    name: str, model_path: Path, settings: ModelsSettings
) -> tuple[ConvertedBackend, Path] | None:
    """The backend and conversion that run ``name``, or None for transformers."""
    for backend in converted_backends():
        converted = backend.select(name, model_path, settings)
        if converted is not None:
            return backend, converted
    return None
