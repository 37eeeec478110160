"""The chat LLM on CTranslate2: a tiny random Qwen2 converted by the product's converter gives
transformers' float32 greedy tokens, and the llm engine runs it through the same prompt,
stopping and validation code (models/runtimes/ct2_causal.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import main
from settings import Settings
from tests.conftest import lazy_module
from tests.runtime_checks import (
    build_varied_qwen,
    check_stopping_and_streaming,
    engine_answer,
    greedy,
    prompt_ids,
    tiny_llm_settings,
)

pytestmark = [pytest.mark.slow]

llm_engine = lazy_module("models.engines.llm")
ct2_causal = lazy_module("models.runtimes.ct2_causal")
ct2_backend = lazy_module("models.runtimes.ct2_backend")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2 with larger random weights: the fixture's own answers repeat one token,
    which would let two runtimes agree by accident."""
    path = build_varied_qwen(tmp_path_factory.mktemp("qwen") / "tiny-qwen2")
    # As a user converts it (int8), and float32 for the exact comparison.
    assert (
        main(["models", "convert", str(path), "--quantization", "int8", "--runtime", "ctranslate2"])
        == 0
    )
    ct2_backend.convert(path, path / "ct2-float32", "float32")
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    yield
    llm_engine.clear_cache()


def settings_for(model_dir: Path, backend: str, compute_type: str = "float32") -> Settings:
    return tiny_llm_settings(model_dir, {}, {"backend": backend, "ct2_compute_type": compute_type})


def test_float32_conversion_gives_transformers_greedy_tokens(model_dir: Path) -> None:
    hf = llm_engine.load_causal_lm(str(model_dir), settings_for(model_dir, "transformers").models)
    ct2 = llm_engine.load_causal_lm(str(model_dir), settings_for(model_dir, "ctranslate2").models)
    assert isinstance(ct2.model, ct2_causal.CT2CausalLM) and ct2.model.backend == (
        "ctranslate2-float32"
    )
    assert not isinstance(hf.model, ct2_causal.CT2CausalLM)
    ids = prompt_ids(hf)
    expected = greedy(hf, ids, 40)
    assert len(set(expected)) > 5  # a varied answer, not one token repeated
    assert greedy(ct2, ids, 40) == expected
    # A shorter limit stops at the same place.
    assert greedy(ct2, ids, 7) == expected[:7]


def test_int8_conversion_loads_and_writes_tokens(model_dir: Path) -> None:
    loaded = llm_engine.load_causal_lm(
        str(model_dir), settings_for(model_dir, "ctranslate2", "int8").models
    )
    assert loaded.model.backend == "ctranslate2-int8" and loaded.device == "cpu"
    tokens = greedy(loaded, prompt_ids(loaded), 12)
    assert 1 <= len(tokens) <= 12
    assert all(0 <= t < len(loaded.tokenizer) for t in tokens)


def test_stopping_criteria_and_streamer_see_every_token(model_dir: Path) -> None:
    check_stopping_and_streaming(
        llm_engine.load_causal_lm(str(model_dir), settings_for(model_dir, "ctranslate2").models)
    )


def test_the_engine_runs_the_conversion_with_its_own_checks(model_dir: Path) -> None:
    """Random weights write no valid digest: the answer goes through the same JSON validation
    and falls back with the same notice as on transformers; the prompt is the same."""
    answers = {
        b: engine_answer(settings_for(model_dir, b)) for b in ("transformers", "ctranslate2")
    }
    assert answers["ctranslate2"] == answers["transformers"]


def test_the_system_turn_is_the_cached_static_prompt() -> None:
    from models.runtimes.stepwise import split_first_turn as split

    assert split([1, 5, 6, 9, 1, 7, 8], [9]) == ([1, 5, 6, 9], [1, 7, 8])
    # No end of turn, or nothing after it: no static prompt.
    assert split([1, 5, 6], [9]) == ([], [1, 5, 6])
    assert split([1, 5, 9], [9]) == ([], [1, 5, 9])
