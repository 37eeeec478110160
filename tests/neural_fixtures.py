"""Fixtures for the neural tests: tiny models built once per test session, settings naming them.

Test modules import the fixtures they use (``from tests.neural_fixtures import tiny_models``).
The models are built once per process whichever module asks first, in a temporary directory
removed at exit; in a parallel run (pytest-xdist) once for all the workers, in the run's
temporary directory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from models.testing import tiny_seq2seq as builder
from settings import Settings, load_settings
from settings.schema import GenerationSettings

_LOCK = threading.Lock()
_BUILT: dict[str, Path] = {}


def built_models() -> dict[str, Path]:
    with _LOCK:
        if not _BUILT:
            import torch

            # Tiny models gain nothing from threads, and spinning threads slow a busy machine.
            torch.set_num_threads(1)
            root = Path(tempfile.mkdtemp(prefix="briefing-tiny-models-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            _BUILT.update(builder.build_all(root))
        return dict(_BUILT)


def directions(
    models: dict[str, Path], only: tuple[str, ...] = builder.MARIAN_DIRECTIONS
) -> dict[str, str]:
    return {pair: str(models[f"marian-{pair}"]) for pair in only}


def tiny_settings(
    models: dict[str, Path],
    *,
    translation: str = "per_direction",
    summariser: str = "bart",
    engine: str = "neural",
    direction_models: dict[str, str] | None = None,
    cache_dir: str = "",
    **sections: dict[str, Any],
) -> Settings:
    """The bundled settings with the tiny models configured (and any section overrides)."""
    base = load_settings(environ={})
    # Random weights never stop early: short outputs keep the tests fast.
    translation_update: dict[str, Any] = {
        "direction_models": direction_models
        if direction_models is not None
        else directions(models),
        "generation": GenerationSettings(num_beams=2, max_new_tokens=12),
    }
    if translation in ("nllb", "m2m100"):
        translation_update |= {
            "kind": "multilingual",
            "multilingual_model": str(models[translation]),
        }
    else:
        translation_update["kind"] = translation
    summarisation_update = {
        "kind": "multilingual" if summariser == "mt5" else "english",
        "model": str(models[summariser]),
        "generation": GenerationSettings(num_beams=2, max_new_tokens=16, min_new_tokens=2),
    }
    update: dict[str, Any] = {
        "translation": base.translation.model_copy(update=translation_update),
        "summarisation": base.summarisation.model_copy(update=summarisation_update),
        "summary": base.summary.model_copy(update={"engine": engine}),
        "models": base.models.model_copy(update={"cache_dir": cache_dir}),
    }
    for name, values in sections.items():
        update[name] = getattr(base, name).model_copy(update=values)
    return base.model_copy(update=update)


def write_config(path: Path, models: dict[str, Path], *, multilingual: bool = False) -> Path:
    """An override file for the command line naming the tiny models."""
    lines = ["[translation]"]
    if multilingual:
        lines += ['kind = "multilingual"', f'multilingual_model = "{models["nllb"]}"']
    lines += ["[translation.direction_models]"]
    lines += [f'{pair} = "{models[f"marian-{pair}"]}"' for pair in builder.MARIAN_DIRECTIONS]
    lines += ["[translation.generation]", "max_new_tokens = 12"]
    lines += ["[summarisation]"]
    if multilingual:
        lines += ['kind = "multilingual"', f'model = "{models["mt5"]}"']
    else:
        lines += ['kind = "english"', f'model = "{models["bart"]}"']
    lines += ["[summarisation.generation]", "max_new_tokens = 16", "min_new_tokens = 2"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def built_models_shared(run_dir: Path) -> dict[str, Path]:
    """The tiny models built once for all the workers of a parallel run (pytest-xdist), in
    ``run_dir``, which they share; the first to ask builds them while the others wait. Tests
    treat the model directories as read-only (conversions go to their own folders)."""
    import fcntl
    import json

    import torch

    torch.set_num_threads(1)
    root = run_dir / "tiny-models"
    manifest = root / "models.json"
    with (run_dir / "tiny-models.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest.is_file():
            shutil.rmtree(root, ignore_errors=True)  # a build a crashed worker left half done
            models = builder.build_all(root)
            manifest.write_text(json.dumps({k: str(v) for k, v in models.items()}), "utf-8")
    return {name: Path(path) for name, path in json.loads(manifest.read_text("utf-8")).items()}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The workers' base temporary directories share this parent (pytest-xdist).
        return built_models_shared(tmp_path_factory.getbasetemp().parent)
    return built_models()


@pytest.fixture
def isolated_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache: models a developer downloaded do not change results."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name in list(os.environ):
        if name.startswith("BRIEFING_DIGEST_"):
            monkeypatch.delenv(name)
    return cache
