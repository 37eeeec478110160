"""Shared fixtures: settings from the bundled config only, one pipeline per session."""

from __future__ import annotations

import pytest

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
    path = SHARED_SAMPLES / "en_moscow_briefing.txt"
    if not path.exists():
        pytest.skip(f"{path} is not present (CI has shared/ beside the clone)")
    return Document(path.name, path.read_text(encoding="utf-8"), "txt")


def sample(name: str) -> Document:
    path = SAMPLES / name
    return Document(name, path.read_text(encoding="utf-8"), "txt")


# Tiny neural models (built once per session) for tests/test_neural_*.py.
pytest_plugins = ["tests.neural_fixtures"]
