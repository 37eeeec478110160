"""Shared fixtures: settings from the bundled config only, one pipeline per session."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

# The suite starts a few hundred Python processes (worker pools, front ends, the CLI, bench
# workers), each importing the project's modules. Where PYTHONDONTWRITEBYTECODE is set (some
# CI images set it) every one of them would compile those sources again (~0.6 s a process on
# 2 cores): this run and its children write the bytecode caches (__pycache__/ is ignored).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    sys.dont_write_bytecode = False

from digest.model import Document
from digest.pipeline import Pipeline
from settings import PROJECT_ROOT, Settings, load_settings

SAMPLES = PROJECT_ROOT / "samples"
# Real briefings kept beside the repository (CI has shared/ next to the clone).
SHARED_SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"


@pytest.fixture(scope="session")
def settings() -> Settings:
    # An empty environment: a developer's BRIEFING_DIGEST_* variables must not change results.
    return load_settings(environ={})


@pytest.fixture(scope="session")
def pipeline(settings: Settings) -> Pipeline:
    return Pipeline(settings)


@pytest.fixture(scope="session")
def moscow_briefing() -> Document:
    return shared_sample(SHARED_SAMPLES / "en_moscow_briefing.txt")


def shared_sample(path: Path) -> Document:
    """A real briefing from ../shared: skipped on a laptop without it, a failure in CI."""
    if not path.exists():
        message = f"{path} is not present (CI has shared/ beside the clone)"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            # In CI a missing sample is a broken set-up, not a reason to test less.
            pytest.fail(f"{message}; CI is set, so the tests that read it fail", pytrace=False)
        pytest.skip(message)
    return Document(path.name, path.read_text(encoding="utf-8"), "txt")


class LazyModule:
    """A module imported when one of its public names is first used, so that a test module
    can name a heavy one (torch under it) without collecting the suite paying for it.

    A plain object rather than importlib's LazyLoader: collection inspects every global
    (``__class__``, fixture markers), which would load a lazy module at once.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # introspection (pytest, copy, pickle) loads nothing
            raise AttributeError(attr)
        return getattr(importlib.import_module(self._name), attr)


def lazy_module(name: str) -> LazyModule:
    return LazyModule(name)


def entity_names(pipeline: Pipeline, text: str, kind: str, lang: str = "en") -> list[str]:
    """The key names of ``kind`` ("person", "place", ...) in the digest of ``text``."""
    digest = pipeline.run(Document("t.txt", text, "txt"), [lang])[lang]
    return [e.text for e in digest.entities if e.kind == kind]


def sample(name: str) -> Document:
    path = SAMPLES / name
    return Document(name, path.read_text(encoding="utf-8"), "txt")


# Tiny neural models (built once per session) for tests/test_neural_*.py.
pytest_plugins = ["tests.neural_fixtures"]

# A real redis-server per test that asks for it (tests/redis_server.py).
from tests.redis_server import redis_server  # noqa: E402, F401
