"""Checks every quantised LLM runtime must pass (CTranslate2, ONNX Runtime): the engine's
``generate`` contract with stopping criteria and a streamer, and the engine's own checks
applied to its answers. The runtime test files call them with their loaded models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from settings import Settings, load_settings
from tests.conftest import lazy_module
from tests.llm_fixtures import TOPIC_TITLES, RecordingFallback, build_tiny_qwen, sample_request

llm_engine = lazy_module("models.engines.llm")


def tiny_llm_settings(model_dir: Path, llm: dict[str, Any], models: dict[str, Any]) -> Settings:
    """Settings that run the tiny model at ``model_dir`` in float32 on one thread, short
    answers, with ``llm`` and ``models`` laid over ``[llm]`` and ``[models]``."""
    base = load_settings(environ={})
    fixed = {"model": str(model_dir), "max_new_tokens": 40, "time_budget_s": 30.0}
    return base.model_copy(
        update={
            "llm": base.llm.model_copy(update={**fixed, "dtype": "float32", **llm}),
            "models": base.models.model_copy(update={"threads": 1, **models}),
        }
    )


def build_varied_qwen(path: Path) -> Path:
    """The tiny Qwen2 with larger random weights: the fixture's own answers repeat one token,
    which would let two runtimes agree by accident."""
    import torch
    from transformers import AutoModelForCausalLM

    build_tiny_qwen(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.5, generator=generator)
    model.save_pretrained(path)
    return path


def prompt_ids(loaded: Any) -> Any:
    text = llm_engine.render_chat(
        loaded.tokenizer,
        [
            {"role": "system", "content": "Write the digest as JSON."},
            {"role": "user", "content": "Lavrov and Jaishankar discussed trade and energy."},
        ],
    )
    return loaded.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]


def greedy(loaded: Any, ids: Any, new_tokens: int) -> list[int]:
    import torch
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=new_tokens,
        do_sample=False,
        eos_token_id=[loaded.tokenizer.eos_token_id],
        pad_token_id=loaded.tokenizer.pad_token_id,
    )
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config
        )
    return out[0, ids.shape[1] :].tolist()


def check_stopping_and_streaming(loaded: Any) -> None:
    """The stopping criteria see the sequence after every token and stop it; the streamer
    gets the prompt, then each token, then its end."""
    import torch
    from transformers import GenerationConfig

    ids = prompt_ids(loaded)
    seen: list[int] = []

    def stop_after_five(sequence: Any, scores: Any = None) -> Any:
        seen.append(int(sequence.shape[1]))
        return torch.tensor([sequence.shape[1] - ids.shape[1] >= 5])

    class Streamer:
        def __init__(self) -> None:
            self.puts: list[list[int]] = []
            self.ended = False

        def put(self, value: Any) -> None:
            self.puts.append(value.reshape(-1).tolist())

        def end(self) -> None:
            self.ended = True

    streamer = Streamer()
    config = GenerationConfig(max_new_tokens=30, do_sample=False, eos_token_id=[])
    out = loaded.model.generate(
        input_ids=ids,
        generation_config=config,
        stopping_criteria=[stop_after_five],
        streamer=streamer,
    )
    assert out.shape[1] == ids.shape[1] + 5
    assert seen == [ids.shape[1] + k for k in range(1, 6)]
    assert streamer.puts[0] == ids[0].tolist() and streamer.ended
    assert [p[0] for p in streamer.puts[1:]] == out[0, ids.shape[1] :].tolist()


def engine_answer(settings: Settings) -> str:
    """The raw answers the llm engine generated for a sample request. Random weights write
    no valid digest, so the engine must fall back with its notice whatever the runtime."""
    summariser = llm_engine.build_llm_summariser(settings, RecordingFallback(), topics=TOPIC_TITLES)
    original = summariser._generate
    generations: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        generations.append(original(*args, **kwargs))
        return generations[-1]

    summariser._generate = spy  # type: ignore[method-assign]
    result = summariser.summarise(sample_request("en", limit=8, topics=2))
    assert result.route[0] == "llm-fallback:extractive"
    assert "did not write a valid digest" in result.notices[-1]
    llm_engine.clear_cache()
    return "\n".join(g.text for g in generations)
