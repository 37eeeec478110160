"""Windows, batching and map-reduce: structure only (the tiny models generate noise)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models.runtimes.hf_loading import ModelCache
from models.runtimes.seq2seq import Seq2SeqRunner, map_reduce, pack, split_sentences
from models.testing.tiny_seq2seq import SEED_TEXT, WINDOW, training_text
from settings.schema import GenerationSettings, ModelsSettings

if TYPE_CHECKING:
    import torch

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

ARCHITECTURES = ["marian-en-hi", "m2m100", "nllb", "mt5", "bart"]


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache(ModelsSettings())


def runner_for(
    cache: ModelCache, models: dict[str, Path], name: str, **generation: object
) -> Seq2SeqRunner:
    settings = GenerationSettings(num_beams=1, max_new_tokens=12, **generation)  # type: ignore[arg-type]
    return Seq2SeqRunner(cache.get(str(models[name])), settings, batch_size=3)


def long_units() -> list[str]:
    sentences = split_sentences(training_text().replace("\n", " "))
    run_on = " ".join(SEED_TEXT.replace(".", "").replace("।", "").split())  # no full stops at all
    giant = "https://example.org/" + "x" * 900  # one "word" far over any window
    return [*sentences[:60], run_on, giant]


def words_of(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


def test_pack_respects_the_budget_and_keeps_every_word() -> None:
    rng = random.Random(7)
    vocabulary = ["a", "bb", "ccc", "dddd", "मंत्री", "Москве", "x" * 30]
    for _ in range(50):
        units = [
            " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 40)))
            for _ in range(rng.randint(1, 12))
        ]
        budget = rng.randint(3, 25)
        count = lambda text: sum(len(w) // 8 + 1 for w in text.split())  # noqa: E731
        chunks = pack(units, count, budget)
        assert all(count(c.text) <= budget for c in chunks)
        assert words_of([c.text for c in chunks]) == words_of(units) or any(
            len(w) // 8 + 1 > budget for w in words_of(units)
        )
        members = [m for c in chunks for m in c.members]
        assert members == sorted(members)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_chunks_never_exceed_the_model_window(
    name: str, cache: ModelCache, tiny_models: dict[str, Path]
) -> None:
    runner = runner_for(cache, tiny_models, name)
    assert runner.window == WINDOW
    units = long_units()
    chunks = runner.chunks(units)
    tokenizer = runner.loaded.tokenizer
    lengths = [len(tokenizer(c.text, verbose=False)["input_ids"]) for c in chunks]
    assert max(lengths) <= WINDOW
    assert len(chunks) > 3
    # Nothing is cut: the words of the chunks are the words of the input, in order.
    assert "".join(words_of([c.text for c in chunks])) == "".join(words_of(units))


def test_prefix_counts_against_the_window(cache: ModelCache, tiny_models: dict[str, Path]) -> None:
    plain = runner_for(cache, tiny_models, "mt5")
    prefixed = Seq2SeqRunner(plain.loaded, plain.generation, 3, prefix="summarize: ")
    assert prefixed.budget < plain.budget
    for chunk in prefixed.chunks(long_units()):
        assert len(prefixed.loaded.tokenizer("summarize: " + chunk.text)["input_ids"]) <= WINDOW


def test_generate_refuses_input_over_the_window(
    cache: ModelCache, tiny_models: dict[str, Path]
) -> None:
    runner = runner_for(cache, tiny_models, "bart")
    with pytest.raises(ValueError, match="exceeds the 64-token window"):
        runner.generate([" ".join(long_units())])


def test_batches_are_grouped_by_length_and_keep_order(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = runner_for(cache, tiny_models, "marian-en-hi")
    batches: list[list[str]] = []

    def echo(inputs: list[str], *args: object) -> list[str]:
        batches.append(list(inputs))
        return [f"<{text}>" for text in inputs]

    monkeypatch.setattr(runner, "_generate_batch", echo)
    texts = ["one", "a much longer sentence about trade and energy", "", "two words", "x y z w"]
    texts += [f"sentence number {i} " + "word " * i for i in range(7)]
    out = runner.generate(texts)
    assert out == [f"<{t.strip()}>" if t else "" for t in texts]
    assert all(len(b) <= runner.batch_size for b in batches)
    sizes = [[runner.count(t) for t in b] for b in batches]
    flat = [n for b in sizes for n in b]
    assert flat == sorted(flat, reverse=True)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_real_generation_returns_one_output_per_input(
    name: str, cache: ModelCache, tiny_models: dict[str, Path]
) -> None:
    runner = runner_for(cache, tiny_models, name)
    texts = ["Lavrov met Jaishankar in Moscow.", "", "INSTC", "Lavrov met Jaishankar in Moscow."]
    out = runner.generate(texts)
    assert len(out) == 4 and out[1] == ""
    assert out[0] == out[3]  # the same input gives the same output wherever it is in the batch
    assert all("<unk>" not in text and "<pad>" not in text for text in out)


def test_generation_runs_in_inference_mode_with_the_settings(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    runner = runner_for(cache, tiny_models, "bart", no_repeat_ngram_size=2, min_new_tokens=3)
    seen = {}
    model = runner.loaded.model
    real = model.generate

    def spy(**kwargs: object) -> torch.Tensor:
        seen.update(kwargs, inference=torch.is_inference_mode_enabled())
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    runner.generate(["Trade and energy were discussed."], max_new_tokens=500)
    assert seen["inference"] is True
    assert seen["num_beams"] == 1 and seen["no_repeat_ngram_size"] == 2
    assert seen["min_new_tokens"] == 3
    # The decoder has 64 positions: outputs are capped below them.
    assert seen["max_new_tokens"] == WINDOW - 2


def test_map_reduce_summarises_long_documents_window_by_window(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = runner_for(cache, tiny_models, "mt5")
    calls: list[list[str]] = []
    real = runner.generate

    def spy(texts: list[str], **kwargs: object) -> list[str]:
        calls.append(list(texts))
        return real(texts, **kwargs)

    monkeypatch.setattr(runner, "generate", spy)
    long_doc = split_sentences(training_text().replace("\n", " "))[:40]
    short_doc = ["Trade was discussed."]
    results = map_reduce(runner, [long_doc, short_doc, []])
    assert results[0].windows > 1 and results[0].text
    assert results[1].rounds == 1 and results[1].windows == 1
    assert results[2].text == ""
    tokenizer = runner.loaded.tokenizer
    assert all(len(tokenizer(t, verbose=False)["input_ids"]) <= WINDOW for c in calls for t in c)
    # Both documents' first windows went through one batched call.
    assert len(calls[0]) == results[0].windows + 1


def test_map_reduce_converges_when_summaries_are_shorter(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = runner_for(cache, tiny_models, "bart")
    rounds: list[int] = []

    def first_words(texts: list[str], **kwargs: object) -> list[str]:
        rounds.append(len(texts))
        return ["Trade grew." for _ in texts]

    monkeypatch.setattr(runner, "generate", first_words)
    doc = [f"Sentence {i} is about trade, energy and the corridor to Moscow." for i in range(80)]
    result = map_reduce(runner, [doc])[0]
    assert result.rounds >= 2 and rounds[-1] == 1
    assert rounds == sorted(rounds, reverse=True)
    assert result.text == "Trade grew."


def test_sentences_split_in_all_three_scripts() -> None:
    assert split_sentences("Trade grew. Energy too! Why?") == ["Trade grew.", "Energy too!", "Why?"]
    assert split_sentences("व्यापार बढ़ा। ऊर्जा भी।") == ["व्यापार बढ़ा।", "ऊर्जा भी।"]
    assert split_sentences("Торговля выросла. «Да», — сказал он.") == [
        "Торговля выросла.",
        "«Да», — сказал он.",
    ]
