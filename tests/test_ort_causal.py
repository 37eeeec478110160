"""The chat LLM on ONNX Runtime GenAI: a tiny random Qwen2 built by the product's converter
gives transformers' float32 greedy tokens in fp32, runs in int4, and the llm engine drives it
through the same prompt, stopping and validation code (models/runtimes/ort_causal.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from settings import Settings
from tests.conftest import lazy_module
from tests.llm_fixtures import build_tiny_qwen
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
ort_causal = lazy_module("models.runtimes.ort_causal")
models_base = lazy_module("models.base")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2 with larger random weights (the fixture's own answers repeat one token,
    which would let two runtimes agree by accident), built as a user builds it (int4) and in
    float32 for the exact comparison."""
    path = build_varied_qwen(tmp_path_factory.mktemp("qwen") / "tiny-qwen2")
    # `models convert` builds a chat LLM for ONNX Runtime where it is installed.
    assert main(["models", "convert", str(path)]) == 0
    ort_causal.convert(path, path / "ort-fp32", "fp32")
    return path


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    yield
    llm_engine.clear_cache()


def settings_for(model_dir: Path, runtime: str, precision: str = "fp32") -> Settings:
    return tiny_llm_settings(model_dir, {"runtime": runtime, "onnx_precision": precision}, {})


def load(model_dir: Path, runtime: str, precision: str = "fp32") -> Any:
    settings = settings_for(model_dir, runtime, precision)
    return llm_engine.load_causal_lm(
        str(model_dir), settings.models, llm_engine.RunChoice.of(settings.llm)
    )


def test_convert_builds_int4_beside_the_model(model_dir: Path) -> None:
    built = model_dir / "ort-int4"
    assert ort_causal.is_converted(built)
    # Converting again leaves the build alone unless forced.
    stamp = (built / "genai_config.json").stat().st_mtime_ns
    assert main(["models", "convert", str(model_dir)]) == 0
    assert (built / "genai_config.json").stat().st_mtime_ns == stamp


def test_fp32_build_gives_transformers_greedy_tokens(model_dir: Path) -> None:
    hf = load(model_dir, "transformers")
    ort = load(model_dir, "onnxruntime")
    assert isinstance(ort.model, ort_causal.OrtCausalLM)
    assert ort.model.backend == "onnxruntime-fp32" and ort.device == "cpu"
    assert not isinstance(hf.model, ort_causal.OrtCausalLM)
    ids = prompt_ids(hf)
    expected = greedy(hf, ids, 40)
    assert len(set(expected)) > 5  # a varied answer, not one token repeated
    assert greedy(ort, ids, 40) == expected
    # A shorter limit stops at the same place.
    assert greedy(ort, ids, 7) == expected[:7]


def test_the_system_turn_is_read_once_and_rewound_to(model_dir: Path) -> None:
    """A second request with the same system turn reuses the generator that read it (the
    answers stay transformers' exactly); another system turn gets a new one."""
    hf = load(model_dir, "transformers")
    ort = load(model_dir, "onnxruntime")
    ids = prompt_ids(hf)
    expected = greedy(hf, ids, 20)
    assert greedy(ort, ids, 20) == expected
    kept = ort.model._kept
    assert kept is not None and ids[0].tolist()[: len(kept.tokens)] == kept.tokens
    assert greedy(ort, ids, 20) == expected and ort.model._kept is kept
    other = llm_engine.render_chat(
        hf.tokenizer,
        [
            {"role": "system", "content": "Write a headline."},
            {"role": "user", "content": "Trade and energy."},
        ],
    )
    other_ids = hf.tokenizer(other, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert greedy(ort, other_ids, 20) == greedy(hf, other_ids, 20)
    assert ort.model._kept is not kept
    assert greedy(ort, ids, 20) == expected


def _first_new_token_after(free: list[int], at_least: int) -> int:
    """The first step from ``at_least`` on whose token the answer has not written before."""
    return next(i for i in range(at_least, len(free)) if free[i] not in free[:i])


def test_an_answer_ended_by_its_end_token_is_rewound_too(model_dir: Path, tmp_path: Path) -> None:
    """The model's end token (its generation config) stops the answer and is kept, as
    transformers keeps it; the next request rewinds the kept generator, which had finished."""
    import json

    from transformers import GenerationConfig

    hf = load(model_dir, "transformers")
    ids = prompt_ids(hf)
    free = greedy(hf, ids, 20)
    step = _first_new_token_after(free, 3)
    turn_end = hf.tokenizer.eos_token_id
    ends = [turn_end, free[step]]
    # The model's own generation config names the token the answer writes at ``step``.
    config_only = tmp_path / "config"
    config_only.mkdir()
    shutil.copy(model_dir / "config.json", config_only / "config.json")
    generation = json.loads((model_dir / "generation_config.json").read_text(encoding="utf-8"))
    generation["eos_token_id"] = ends
    (config_only / "generation_config.json").write_text(json.dumps(generation), encoding="utf-8")
    settings = settings_for(model_dir, "onnxruntime")
    ort = ort_causal.load("ended", config_only, model_dir / "ort-fp32", settings.models)
    config = GenerationConfig(max_new_tokens=20, do_sample=False, eos_token_id=ends)
    out = ort.generate(input_ids=ids, generation_config=config)
    assert out[0, ids.shape[1] :].tolist() == free[: step + 1]
    kept = ort._kept
    assert kept is not None and kept.tokens == ids[0].tolist()[: len(kept.tokens)]
    out = ort.generate(input_ids=ids, generation_config=config)
    assert out[0, ids.shape[1] :].tolist() == free[: step + 1] and ort._kept is kept


def test_the_engines_end_tokens_stop_the_answer_too(model_dir: Path) -> None:
    """An end token the engine asks for but the build's own config does not name (the
    engine adds the tokenizer's end-of-turn markers) still ends the answer, and is kept."""
    from transformers import GenerationConfig

    hf = load(model_dir, "transformers")
    ort = load(model_dir, "onnxruntime")
    ids = prompt_ids(hf)
    free = greedy(hf, ids, 20)
    step = _first_new_token_after(free, 3)
    ends = [hf.tokenizer.eos_token_id, free[step]]
    config = GenerationConfig(max_new_tokens=20, do_sample=False, eos_token_id=ends)
    out = ort.model.generate(input_ids=ids, generation_config=config)
    assert out[0, ids.shape[1] :].tolist() == free[: step + 1]


def test_a_short_context_model_keeps_its_generator_within_it(tmp_path: Path) -> None:
    """A kept generator is sized to the build's context length, never past it (the runtime
    refuses a longer one)."""
    path = build_tiny_qwen(tmp_path / "short", max_positions=1024)
    ort_causal.convert(path, path / "ort-fp32", "fp32")
    settings = settings_for(path, "onnxruntime")
    loaded = llm_engine.load_causal_lm(
        str(path), settings.models, llm_engine.RunChoice.of(settings.llm)
    )
    assert loaded.model.kept_length == 1024
    ids = prompt_ids(loaded)
    for _ in range(2):
        assert 1 <= len(greedy(loaded, ids, 8)) <= 8
    assert loaded.model._kept is not None and loaded.model._kept.max_length == 1024


def test_backend_transformers_turns_auto_off_but_not_a_demand(model_dir: Path) -> None:
    base = settings_for(model_dir, "auto", "fp32")
    models = base.models.model_copy(update={"backend": "transformers"})

    def runtime_of(runtime: str) -> Any:
        choice = llm_engine.RunChoice("float32", runtime, "fp32")
        return llm_engine.load_causal_lm(str(model_dir), models, choice)

    assert not isinstance(runtime_of("auto").model, ort_causal.OrtCausalLM)
    assert runtime_of("onnxruntime").model.backend == "onnxruntime-fp32"


def test_int4_build_is_what_auto_runs(model_dir: Path) -> None:
    loaded = load(model_dir, "auto", "int4")
    assert loaded.model.backend == "onnxruntime-int4"
    tokens = greedy(loaded, prompt_ids(loaded), 12)
    assert 1 <= len(tokens) <= 12
    assert all(0 <= t < len(loaded.tokenizer) for t in tokens)


def test_a_demanded_runtime_without_its_conversion_names_the_command(
    model_dir: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare, ignore=shutil.ignore_patterns("ort-*", "ct2-*"))
    with pytest.raises(models_base.ModelUnavailableError) as caught:
        load(bare, "onnxruntime", "int4")
    message = str(caught.value)
    assert "no ONNX int4 build" in message
    assert f"briefing-digest models convert {bare} --runtime onnxruntime" in message
    with pytest.raises(models_base.ModelUnavailableError, match="CTranslate2 conversion"):
        load(bare, "ctranslate2")
    # auto without any conversion is transformers.
    assert not isinstance(load(bare, "auto", "int4").model, ort_causal.OrtCausalLM)


def test_a_broken_build_names_the_rebuild_command(model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken, ignore=shutil.ignore_patterns("ort-fp32", "ct2-*"))
    (broken / "ort-int4" / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(models_base.ModelUnavailableError) as caught:
        load(broken, "auto", "int4")
    assert "could not be loaded" in str(caught.value)
    assert "--runtime onnxruntime --force" in str(caught.value)


def test_stopping_criteria_and_streamer_see_every_token(model_dir: Path) -> None:
    check_stopping_and_streaming(load(model_dir, "onnxruntime"))


def test_the_engine_runs_the_build_with_its_own_checks(model_dir: Path) -> None:
    """Random weights write no valid digest: the answer goes through the same JSON validation
    and falls back with the same notice as on transformers; the prompt is the same."""
    answers = {
        r: engine_answer(settings_for(model_dir, r)) for r in ("transformers", "onnxruntime")
    }
    assert answers["onnxruntime"] == answers["transformers"]


def test_a_model_that_is_no_causal_lm_is_not_built(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "nothing"}', encoding="utf-8")
    with pytest.raises(ort_causal.ConversionError, match=f"cannot convert {tmp_path}"):
        ort_causal.convert(tmp_path, tmp_path / "ort-int4", "int4")
    assert not (tmp_path / "ort-int4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ort-int4")]
