"""The LLM engine with a tiny random Qwen2 built locally (tests/llm_fixtures.py), loaded through
the product's loading path: prompts, windows, chunks, retries, fallbacks, the time budget."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from models.base import ModelUnavailableError, SummaryRequest
from settings import Settings, load_settings
from tests.conftest import lazy_module
from tests.llm_fixtures import (
    GLOSSARY,
    TOPIC_TITLES,
    RecordingFallback,
    digest_json,
    sample_request,
    tiny_qwen,
)

# Loaded when a test first uses it: collecting the suite must not import torch, transformers
# and jinja2 (seconds).
llm_engine = lazy_module("models.engines.llm")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return tiny_qwen()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    yield
    llm_engine.clear_cache()


def llm_settings(model_dir: Path, **llm: Any) -> Settings:
    base = load_settings(environ={})
    # float32: bfloat16 kernels take seconds to warm up, and the tests need no speed. The tiny
    # model's tokenizer takes several times Qwen's tokens for the same text, so the prompt
    # bound is off unless a test sets it; the requests' own max_points bound the bullets.
    values = {
        "model": str(model_dir),
        "prompt_tokens": 0,
        "max_bullets": 10,
        "max_new_tokens": 24,
        "time_budget_s": 30.0,
        "dtype": "float32",
    } | llm
    return base.model_copy(update={"llm": base.llm.model_copy(update=values)})


def engine(
    model_dir: Path, fallback: RecordingFallback | None = None, **llm: Any
) -> llm_engine.LlmSummariser:
    return llm_engine.build_llm_summariser(
        llm_settings(model_dir, **llm),
        fallback or RecordingFallback(),
        topics=TOPIC_TITLES,
        glossary=GLOSSARY,
    )


def script(
    summariser: llm_engine.LlmSummariser, answers: Sequence[str]
) -> list[list[dict[str, str]]]:
    """Replace the model's answers with written-out ones; returns the prompts it was sent."""
    sent: list[list[dict[str, str]]] = []
    pending = list(answers)

    def fake(
        loaded: llm_engine.LoadedLlm, messages: Any, deadline: float, on_text: Any, topics: int = 0
    ) -> llm_engine.Generation:
        sent.append([dict(m) for m in messages])
        prompt = llm_engine.count_tokens(
            loaded.tokenizer, llm_engine.render_chat(loaded.tokenizer, messages)
        )
        return llm_engine.Generation(pending.pop(0), prompt, 10, 0.01)

    summariser._generate = fake  # type: ignore[method-assign]
    return sent


# -- loading ------------------------------------------------------------------------------------
def test_the_tiny_model_loads_through_the_product_path(model_dir: Path) -> None:
    settings = llm_settings(model_dir)
    loaded = llm_engine.cached_causal_lm(
        str(model_dir), settings.models, llm_engine.RunChoice.of(settings.llm)
    )
    assert loaded is llm_engine.cached_causal_lm(
        str(model_dir), settings.models, llm_engine.RunChoice.of(settings.llm)
    )
    assert loaded.tokenizer.chat_template
    assert type(loaded.model).__name__ == "Qwen2ForCausalLM"
    assert loaded.max_positions == 8192
    assert str(loaded.model.dtype) == "torch.float32"


def test_auto_dtype_is_bfloat16_only_where_the_hardware_has_it() -> None:
    assert llm_engine.resolve_dtype("float32", "cuda") == "float32"
    assert llm_engine.resolve_dtype("auto", "cuda") == "bfloat16"
    assert llm_engine.resolve_dtype("auto", "cpu") == (
        "bfloat16" if llm_engine.cpu_has_bf16() else "float32"
    )


def test_a_missing_model_names_itself_and_the_download_command(tmp_path: Path) -> None:
    base = load_settings(environ={})
    settings = base.model_copy(
        update={
            "llm": base.llm.model_copy(update={"model": "Qwen/Qwen2.5-1.5B-Instruct"}),
            "models": base.models.model_copy(update={"cache_dir": str(tmp_path)}),
        }
    )
    with pytest.raises(ModelUnavailableError) as caught:
        llm_engine.build_llm_summariser(settings, RecordingFallback())
    message = str(caught.value)
    assert "Qwen/Qwen2.5-1.5B-Instruct" in message
    assert "briefing-digest models download Qwen/Qwen2.5-1.5B-Instruct" in message
    with pytest.raises(ModelUnavailableError, match=r"Qwen2\.5-0\.5B"):
        llm_engine.build_llm_summariser(settings, RecordingFallback(), light=True)


def test_a_seq2seq_or_template_less_model_is_refused(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "no-template"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    fallback = RecordingFallback()
    result = engine(copy, fallback).summarise(sample_request("en", limit=6))
    assert result.engine == "extractive"
    assert "no chat template" in result.notices[-1]


# -- prompts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["en", "hi", "ru"])
def test_prompt_renders_with_the_chat_template_under_the_window(
    model_dir: Path, language: str
) -> None:
    summariser = engine(model_dir, context_window=4096, max_new_tokens=512)
    loaded = summariser._loader(summariser.model_name)
    request = sample_request(language)
    chunks = summariser.plan(loaded, request)
    assert len(chunks) == 1
    text = llm_engine.render_chat(loaded.tokenizer, summariser.prompts.messages(request, chunks[0]))
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\n" in text
    for sentence in request.sentences:
        assert f"[{sentence.id}] {sentence.text}" in text
    title = TOPIC_TITLES["trade"][language]
    trade_ids = ", ".join(map(str, dict(request.topics)["trade"]))
    assert f"- trade — {title} — {trade_ids}" in text
    assert '"evidence"' in text and "JSON" in text
    assert llm_engine.count_tokens(loaded.tokenizer, text) <= summariser.window(loaded) - 512


def test_glossary_lists_names_the_transcript_writes_otherwise(model_dir: Path) -> None:
    prompts = engine(model_dir).prompts
    lines = prompts.glossary_lines("Переговоры прошли в Москве, Лавров выступил.", "ru")
    assert lines == ["Лавров → Сергей Лавров", "Москве → Москва"]
    # English names in a Russian transcript; a name already written canonically needs no line.
    assert prompts.glossary_lines("Встреча с Sergey Lavrov прошла в Москва.", "ru") == [
        "Sergey Lavrov → Сергей Лавров"
    ]
    assert prompts.glossary_lines("Nothing relevant.", "en") == []


def test_glossary_terms_from_glossary_entries() -> None:
    class Entry:
        def __init__(self) -> None:
            self.forms = {"en": "Sergey Lavrov", "ru": "Сергей Лавров"}
            self.aliases = {"en": ("Lavrov",), "ru": ("Лавров", "Сергей Лавров")}

    assert llm_engine.glossary_terms([Entry()]) == [
        {"en": ["Sergey Lavrov", "Lavrov"], "ru": ["Сергей Лавров", "Лавров"]}
    ]


def test_long_transcripts_are_split_into_per_topic_chunks_that_fit(model_dir: Path) -> None:
    # The whole transcript (no prompt bound): chunks.
    summariser = engine(model_dir, context_window=900, max_new_tokens=128, prompt_tokens=0)
    loaded = summariser._loader(summariser.model_name)
    request = sample_request("ru", topics=4)
    chunks = summariser.plan(loaded, request)
    assert len(chunks) > 1
    budget = summariser.window(loaded) - 128
    for part, chunk in enumerate(chunks, start=1):
        messages = summariser.prompts.messages(request, chunk, part, len(chunks))
        assert summariser.prompt_tokens(loaded, messages) <= budget
        for _, ids in chunk.topics:
            assert set(ids) <= {s.id for s in chunk.sentences}
    covered = {(tid, i) for chunk in chunks for tid, ids in chunk.topics for i in ids}
    assert covered == {(tid, i) for tid, ids in request.topics for i in ids}
    # Topics are kept whole where they fit: a topic spans chunks only when it must.
    first = [tid for tid, _ in chunks[0].topics]
    assert first[0] == "trade"


def test_chunk_answers_are_merged_in_request_order(model_dir: Path) -> None:
    summariser = engine(model_dir, context_window=900, max_new_tokens=128, prompt_tokens=0)
    loaded = summariser._loader(summariser.model_name)
    request = sample_request("en", topics=4)
    chunks = summariser.plan(loaded, request)
    assert len(chunks) > 1
    answers = [digest_json(SummaryRequest("en", chunk.sentences, chunk.topics)) for chunk in chunks]
    sent = script(summariser, answers)
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert f"llm-chunks:{len(chunks)}" in result.route
    assert len(sent) == len(chunks)
    assert f"Part 2 of {len(chunks)}" in sent[1][1]["content"]
    assert set(result.points) == {tid for tid, _ in request.topics}
    assert result.headline.text == "Ministers reviewed the partnership."
    assert result.headline.source_ids


def test_a_bounded_prompt_holds_each_topics_best_sentences_under_their_ids(
    model_dir: Path,
) -> None:
    request = sample_request("en", topics=4)
    # A ranker that puts each topic's last sentences first: the prompt must follow it.
    ranked = {tid: list(reversed(ids)) for tid, ids in request.topics}
    summariser = engine(model_dir, prompt_tokens=1100)
    summariser.ranker = lambda _: ranked
    loaded = summariser._loader(summariser.model_name)
    whole = summariser.prompts.messages(request, summariser.plan(loaded, request)[0])
    assert summariser.prompt_tokens(loaded, whole) > 1100
    asked = summariser.bounded(loaded, request)
    chunks = summariser.plan(loaded, asked)
    assert len(chunks) == 1
    assert summariser.prompt_tokens(loaded, summariser.prompts.messages(asked, chunks[0])) <= 1100
    kept = dict(asked.topics)
    assert [tid for tid, _ in asked.topics] == [tid for tid, _ in request.topics]
    counts = {len(ids) for ids in kept.values()}
    assert len(counts) == 1 and 1 <= counts.pop() < min(len(i) for _, i in request.topics)
    for tid, _ in request.topics:
        assert set(kept[tid]) == set(ranked[tid][: len(kept[tid])])
    # Sentences keep their own numbers and text: citations are checked against them.
    texts = {s.id: s.text for s in request.sentences}
    assert all(texts[s.id] == s.text for s in asked.sentences)
    sent = script(summariser, [digest_json(asked)])
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert f"llm-prompt:{len(asked.sentences)}/{len(request.sentences)}" in result.route
    assert f"[{ranked['trade'][0]}] " in sent[0][1]["content"]
    assert f"[{request.topics[0][1][0]}] " not in sent[0][1]["content"]
    for tid, ids in asked.topics:
        assert result.points[tid][0].source_ids == (ids[0],)


def test_an_answer_citing_a_sentence_left_out_of_the_prompt_loses_that_bullet(
    model_dir: Path,
) -> None:
    request = sample_request("en", topics=2)
    summariser = engine(model_dir, prompt_tokens=700)
    loaded = summariser._loader(summariser.model_name)
    asked = summariser.bounded(loaded, request)
    left_out = sorted({s.id for s in request.sentences} - {s.id for s in asked.sentences})
    assert left_out
    answer = json.loads(digest_json(asked))
    answer["topics"][0]["bullets"].append({"text": "An invented point.", "evidence": [left_out[0]]})
    script(summariser, [json.dumps(answer)])
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert all(left_out[0] not in p.source_ids for ps in result.points.values() for p in ps)


def test_a_short_transcript_is_prompted_whole_and_bullets_are_capped(model_dir: Path) -> None:
    request = sample_request("ru", limit=10, max_points=5)
    summariser = engine(model_dir, max_bullets=2, prompt_tokens=3000)
    loaded = summariser._loader(summariser.model_name)
    asked = summariser.bounded(loaded, request)
    assert asked.sentences == request.sentences and asked.max_points == 2
    system = summariser.prompts.system(asked)
    assert system == summariser.prompts.system(replace(request, max_points=2))
    tid, ids = request.topics[0]
    answer = json.loads(digest_json(request))
    answer["topics"][0]["bullets"] = [{"text": f"Пункт {i}.", "evidence": [i]} for i in ids]
    script(summariser, [json.dumps(answer, ensure_ascii=False)])
    result = summariser.summarise(request)
    assert len(ids) > 2 and len(result.points[tid]) == 2
    assert not any(step.startswith("llm-prompt:") for step in result.route)


def test_the_offline_ranking_orders_the_candidates(model_dir: Path) -> None:
    from models.engines.extractive import ExtractiveSummariser

    extractive = ExtractiveSummariser({"en": frozenset({"the", "and", "of", "to"})})
    summariser = llm_engine.build_llm_summariser(
        llm_settings(model_dir), extractive, topics=TOPIC_TITLES, glossary=GLOSSARY
    )
    request = sample_request("en", topics=3)
    assert summariser.ranker is not None
    order = summariser.ranker(request)
    ranking = extractive.rank(request, exclude_headline=False)
    for tid, ids in request.topics:
        assert sorted(order[tid]) == sorted(ids)
        rows, score = ranking.topics[tid]
        best = ranking.sentences[rows[int(score.argmax())]].id
        assert order[tid][0] == best


# -- answers: valid, retried, failed ------------------------------------------------------------
def test_a_valid_answer_becomes_the_summary(model_dir: Path) -> None:
    summariser = engine(model_dir)
    request = sample_request("hi", limit=12)
    answer = json.loads(digest_json(request))
    # A new topic's bullet goes to the request topic holding its evidence.
    answer["topics"].append(
        {
            "id": "climate",
            "bullets": [{"text": "जलवायु पर भी बात हुई।", "evidence": [request.topics[1][1][0]]}],
        }
    )
    script(summariser, [f"```json\n{json.dumps(answer, ensure_ascii=False)}\n```"])
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert result.language == "hi"
    assert result.notices == []
    assert result.route == [f"llm:hi:{summariser.model_name}"]
    ids = {s.id for s in request.sentences}
    for tid, sentence_ids in request.topics:
        assert result.points[tid][0].source_ids == (sentence_ids[0],)
        assert all(set(p.source_ids) <= ids for p in result.points[tid])
    assert len(result.points[request.topics[1][0]]) == 2


def test_an_invalid_answer_is_retried_with_the_error_shown(model_dir: Path) -> None:
    summariser = engine(model_dir)
    request = sample_request("ru", limit=10)
    sent = script(summariser, ['{"headline": "Переговоры"}', digest_json(request)])
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert "llm-retry" in result.route
    retry = sent[1]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[2]["content"] == '{"headline": "Переговоры"}'
    assert 'missing field "topics"' in retry[3]["content"]
    assert retry[3]["content"].startswith("Твой ответ нельзя использовать")


def test_missing_topics_are_filled_by_the_fallback(model_dir: Path) -> None:
    fallback = RecordingFallback()
    summariser = engine(model_dir, fallback)
    request = sample_request("en", limit=12)
    answer = json.loads(digest_json(request))
    answer["topics"] = answer["topics"][:1]
    script(summariser, [json.dumps(answer)])
    result = summariser.summarise(request)
    assert result.engine == "llm"
    assert set(result.points) == {tid for tid, _ in request.topics}
    assert "extract:en" in result.route
    assert len(fallback.calls) == 1


def test_wrong_language_twice_falls_back_with_a_notice(model_dir: Path) -> None:
    fallback = RecordingFallback()
    summariser = engine(model_dir, fallback)
    request = sample_request("ru", limit=10)
    english = digest_json(SummaryRequest("en", request.sentences, request.topics))
    script(summariser, [english, english])
    result = summariser.summarise(request)
    assert result.engine == "extractive"
    assert len(fallback.calls) == 1
    assert "did not write a valid digest" in result.notices[-1]
    assert "Russian" in result.notices[-1]
    assert result.route[0] == "llm-fallback:extractive"


def test_random_model_output_fails_validation_and_falls_back(model_dir: Path) -> None:
    fallback = RecordingFallback()
    summariser = engine(model_dir, fallback, max_new_tokens=32)
    generations: list[llm_engine.Generation] = []
    real = summariser._generate

    def spy(*args: Any, **kwargs: Any) -> llm_engine.Generation:
        generations.append(real(*args, **kwargs))
        return generations[-1]

    summariser._generate = spy  # type: ignore[method-assign]
    streamed: list[str] = []
    request = sample_request("en", limit=10)
    result = summariser.summarise(request, on_text=streamed.append)
    assert len(generations) == 2  # the answer and its one retry
    assert all(g.new_tokens > 0 for g in generations)
    assert result.engine == "extractive"
    assert fallback.calls == [request]
    assert result.notices[-1].startswith(
        f"The LLM engine ({summariser.model_name}) did not write a valid digest"
    )
    assert result.notices[-1].endswith("the extractive engine wrote this digest.")
    assert streamed and streamed[-1] == generations[-1].text


# -- time budget --------------------------------------------------------------------------------
def slow_loader(settings: Settings, delay: float) -> Callable[[str], llm_engine.LoadedLlm]:
    """The product's loader, with every forward pass slowed down (a big model on a slow CPU)."""

    def load(name: str) -> llm_engine.LoadedLlm:
        loaded = llm_engine.cached_causal_lm(
            name, settings.models, llm_engine.RunChoice.of(settings.llm)
        )
        loaded.model.register_forward_pre_hook(lambda *_: time.sleep(delay))
        return loaded

    return load


def test_the_time_budget_stops_generation_and_falls_back(model_dir: Path) -> None:
    settings = llm_settings(model_dir, time_budget_s=0.5, max_new_tokens=400)
    fallback = RecordingFallback()
    summariser = llm_engine.build_llm_summariser(
        settings, fallback, model_loader=slow_loader(settings, 0.02), topics=TOPIC_TITLES
    )
    started = time.monotonic()
    result = summariser.summarise(sample_request("en", limit=8))
    elapsed = time.monotonic() - started
    # 400 tokens at 20 ms would take 8 s; the budget stops it after ~0.5 s.
    assert elapsed < 4.0
    assert result.engine == "extractive"
    assert len(fallback.calls) == 1
    assert "ran past its time budget of 0.5 s" in result.notices[-1]
    assert "stopped after" in result.notices[-1]
    # The speeds are now known: the next digest that cannot finish falls back at once.
    again = summariser.summarise(sample_request("en", limit=8))
    assert "would take" in again.notices[-1]  # said only by the check before generating


def test_deadline_and_json_end_criteria() -> None:
    import torch

    ids = torch.zeros((1, 5), dtype=torch.long)
    assert not llm_engine.DeadlineCriteria(time.monotonic() + 60)(ids).item()
    late = llm_engine.DeadlineCriteria(time.monotonic() - 1)
    assert late(ids).item() and late.expired

    class Chars:
        def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
            return "".join(chr(i) for i in ids)

    text = 'Sure: {"a": "x}{\\"", "b": [{"c": 1}]} trailing'
    codes = [ord(c) for c in text]
    prompt = [0, 0, 0]
    criteria = llm_engine.JsonEndCriteria(Chars(), len(prompt))
    stopped_at = None
    for n in range(1, len(codes) + 1):
        if criteria(torch.tensor([prompt + codes[:n]])).item():
            stopped_at = n
            break
    assert stopped_at is not None and text[:stopped_at].endswith("]}")


def test_a_prompt_too_slow_to_read_in_the_time_left_falls_back_at_once(model_dir: Path) -> None:
    settings = llm_settings(model_dir, time_budget_s=5.0)
    summariser = llm_engine.build_llm_summariser(settings, RecordingFallback(), topics=TOPIC_TITLES)
    loaded = summariser._loader(summariser.model_name)
    request = sample_request("en", limit=8)
    summariser.summarise(request)  # measures the speeds
    assert loaded.prefill_tok_s > 0 and loaded.decode_tok_s > 0
    loaded.prefill_tok_s = 10.0  # as if on a much slower machine
    result = summariser.summarise(request)
    assert "would take" in result.notices[-1]
    assert result.engine == "extractive"
    # Reading is fast but writing even one bullet per topic is not.
    loaded.prefill_tok_s, loaded.decode_tok_s = 1e6, 10.0
    result = summariser.summarise(request)
    assert "a ~130-token answer would take" in result.notices[-1]
