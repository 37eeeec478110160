"""Shared fixtures: settings from the bundled config only, one pipeline per session."""

from __future__ import annotations

import os
from pathlib import Path

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


def sample(name: str) -> Document:
    path = SAMPLES / name
    return Document(name, path.read_text(encoding="utf-8"), "txt")


# Tiny neural models (built once per session) for tests/test_neural_*.py.
pytest_plugins = ["tests.neural_fixtures"]
