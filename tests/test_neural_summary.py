"""Abstractive summaries: routes, evidence, windows, fallbacks; and the pipeline on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.pipeline import Pipeline
from models.base import ModelUnavailableError, SourceSentence, SummaryRequest
from models.engines.extractive import ExtractiveSummariser
from models.engines.neural_summary import NeuralSummariser, attribute
from models.engines.translation import build_translator
from models.registry import EngineRegistry
from models.runtimes.hf_loading import ModelCache
from models.runtimes.seq2seq import Seq2SeqRunner, split_sentences
from models.testing.tiny_seq2seq import WINDOW, training_text
from settings import Settings
from tests.conftest import sample
from tests.neural_fixtures import tiny_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

HINDI = [
    "विदेश मंत्री एस जयशंकर ने मास्को में सर्गेई लावरोव से मुलाकात की।",
    "दोनों पक्षों ने व्यापार और ऊर्जा सहयोग पर चर्चा की।",
    "उन्होंने अंतरराष्ट्रीय उत्तर-दक्षिण परिवहन गलियारे की प्रगति की समीक्षा की।",
    "भारत ने रूस को दवाओं और कृषि उत्पादों का निर्यात बढ़ाने का प्रस्ताव रखा।",
]
RUSSIAN = [
    "Министр иностранных дел Индии встретился в Москве с Сергеем Лавровым.",
    "Стороны обсудили торговлю и сотрудничество в энергетике.",
    "Министры рассмотрели ход работ по коридору «Север — Юг».",
]


def request_for(language: str, texts: list[str], max_points: int = 3) -> SummaryRequest:
    sentences = [SourceSentence(i, t, language) for i, t in enumerate(texts)]
    half = len(texts) // 2
    topics = [("trade", list(range(half))), ("transport", list(range(half, len(texts))))]
    return SummaryRequest(language, sentences, topics, max_points=max_points, max_words=20)


def summariser(settings: Settings) -> NeuralSummariser:
    cache = ModelCache(settings.models)

    def translator() -> object:
        return build_translator(settings.translation, settings.models, cache)

    return NeuralSummariser(
        settings,
        cache,
        translator,
        ExtractiveSummariser({}),
    )


def check_points(result: object, request: SummaryRequest) -> None:
    topic_ids = dict(request.topics)
    assert set(result.points) == set(topic_ids)  # type: ignore[attr-defined]
    for topic, points in result.points.items():  # type: ignore[attr-defined]
        assert 1 <= len(points) <= request.max_points
        for point in points:
            assert point.text and set(point.source_ids) <= set(topic_ids[topic])
            assert len(point.text.split()) <= request.max_words + 1
    assert set(result.headline.source_ids) <= {s.id for s in request.sentences}  # type: ignore[attr-defined]


def test_english_summariser_translates_to_english_first(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tiny_models, summariser="bart")
    engine = summariser(settings)
    request = request_for("hi", HINDI)
    bart = str(tiny_models["bart"])
    assert engine.plan(request).steps == ("translate:hi->en:opus-mt", f"summarise:en:{bart}")
    used: list[str] = []
    real = Seq2SeqRunner.generate

    def record(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        used.append(Path(self.name).name)
        return real(self, texts, **kwargs)

    monkeypatch.setattr(Seq2SeqRunner, "generate", record)
    result = engine.summarise(request)
    assert result.engine == "neural" and result.language == "en" and not result.notices
    assert result.route == ["translate:hi->en:opus-mt", f"summarise:en:{bart}"]
    assert used[0] == "marian-hi-en" and set(used[1:]) == {"bart"}
    check_points(result, request)


def test_multilingual_summariser_writes_in_the_source_language(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tiny_models, summariser="mt5")
    engine = summariser(settings)
    request = request_for("ru", RUSSIAN)
    mt5 = str(tiny_models["mt5"])
    assert engine.plan(request).steps == (f"summarise:ru:{mt5}",)
    used: list[str] = []
    real = Seq2SeqRunner.generate

    def record(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        used.append(Path(self.name).name)
        return real(self, texts, **kwargs)

    monkeypatch.setattr(Seq2SeqRunner, "generate", record)
    result = engine.summarise(request)
    assert set(used) == {"mt5"}  # nothing translated
    assert result.language == "ru" and result.route == [f"summarise:ru:{mt5}"]
    check_points(result, request)


def test_long_topics_are_summarised_within_the_window(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tiny_models, summariser="mt5")
    engine = summariser(settings)
    sentences = split_sentences(training_text().replace("\n", " "))[:40]
    request = SummaryRequest(
        "en",
        [SourceSentence(i, t, "en") for i, t in enumerate(sentences)],
        [("everything", list(range(len(sentences))))],
    )
    inputs: list[str] = []
    real = Seq2SeqRunner.generate

    def record(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        inputs.extend(texts)
        return real(self, texts, **kwargs)

    monkeypatch.setattr(Seq2SeqRunner, "generate", record)
    result = engine.summarise(request)
    tokenizer = engine.runner().loaded.tokenizer
    assert len(inputs) > 3
    assert all(len(tokenizer(t, verbose=False)["input_ids"]) <= WINDOW for t in inputs)
    # Every source sentence went into some window: nothing was cut off.
    joined = " ".join(inputs)
    assert all(s.split()[0] in joined for s in sentences)
    assert result.points["everything"]


def test_missing_translation_falls_back_with_a_notice(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    missing = {"hi-en": "Helsinki-NLP/opus-mt-hi-en"}
    settings = tiny_settings(
        tiny_models, summariser="bart", direction_models=missing, cache_dir=str(tmp_path)
    )
    result = summariser(settings).summarise(request_for("hi", HINDI))
    assert result.engine == "extractive"
    # The pipeline words the notice in each digest's language from this.
    assert result.fallback is not None and result.fallback.engine == "neural"
    assert result.fallback.remedy.missing == "Helsinki-NLP/opus-mt-hi-en"
    assert (
        result.fallback.remedy.command == "briefing-digest models download Helsinki-NLP/opus-mt-hi-en"
    )
    # English documents need no translation: the neural summariser serves them.
    english = request_for("en", ["Trade was discussed.", "Energy too.", "So was the corridor."])
    assert summariser(settings).summarise(english).engine == "neural"


def test_a_missing_summariser_fails_early(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    settings = tiny_settings(tiny_models, cache_dir=str(tmp_path))
    settings = settings.model_copy(
        update={
            "summarisation": settings.summarisation.model_copy(
                update={"model": "sshleifer/distilbart-cnn-12-6"}
            )
        }
    )
    with pytest.raises(
        ModelUnavailableError, match="models download sshleifer/distilbart-cnn-12-6"
    ):
        summariser(settings)


def test_a_document_title_is_the_headline_without_generating_one(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = summariser(tiny_settings(tiny_models, summariser="mt5"))
    texts = ["Press release on the visit", *RUSSIAN]
    sentences = [SourceSentence(i, t, "ru") for i, t in enumerate(texts)]
    request = SummaryRequest("ru", sentences, [("all", [1, 2, 3])], title_id=0)
    written: list[object] = []
    monkeypatch.setattr(engine, "_headline", lambda *args: written.append(args))
    result = engine.summarise(request)
    assert result.headline.source_ids == (0,) and result.headline.text == texts[0]
    assert written == []  # no headline generated
    check_points(result, request)


def test_evidence_is_the_sentences_sharing_most_words() -> None:
    texts = {
        1: "Trade between India and Russia grew.",
        2: "The corridor to Iran is being built.",
        3: "Russia and India discussed trade volumes.",
    }
    assert attribute("India and Russia trade grew", [1, 2, 3], texts) == (1, 3)
    assert attribute("The corridor", [1, 2, 3], texts) == (2,)
    assert attribute("nonsense ☃", [1, 2, 3], texts) == (1, 2, 3)


# -- the pipeline with neural engines ---------------------------------------------------------


def test_pipeline_digest_with_the_english_route(tiny_models: dict[str, Path]) -> None:
    settings = tiny_settings(tiny_models, summariser="bart")
    pipeline = Pipeline(settings)
    doc = sample("hi_briefing.txt")
    digests = pipeline.run(doc, ["hi", "en", "ru"], "neural")
    bart = str(tiny_models["bart"])
    english = digests["en"]
    assert english.engine == "neural" and english.source_language == "hi"
    steps = ("translate:hi->en:opus-mt", f"summarise:en:{bart}")
    assert english.route[:2] == steps
    # Then only the short digest is translated (and the Hindi title, when there is one).
    assert set(english.route[2:]) <= {"translate:hi->en:opus-mt"}
    assert digests["hi"].route[:2] == steps and "translate:en->hi:opus-mt" in digests["hi"].route
    assert digests["ru"].route[:2] == steps and "translate:en->ru:opus-mt" in digests["ru"].route
    assert not any("neural" in n.lower() for n in english.notices)
    for digest in digests.values():
        assert digest.topics
        assert [t.id for t in digest.topics] == [t.id for t in english.topics]
        for topic in digest.topics:
            assert 1 <= len(topic.bullets) <= settings.summary.max_bullets
            assert all(set(b.evidence) <= set(digest.sentences) for b in topic.bullets)


def test_pipeline_digest_with_the_multilingual_route(tiny_models: dict[str, Path]) -> None:
    settings = tiny_settings(tiny_models, summariser="mt5", translation="nllb")
    digests = Pipeline(settings).run(sample("ru_briefing.txt"), ["ru", "en"], "neural")
    mt5 = str(tiny_models["mt5"])
    assert digests["ru"].route == (f"summarise:ru:{mt5}",)
    assert digests["en"].route == (f"summarise:ru:{mt5}", "translate:ru->en:nllb")
    assert all(t.bullets for t in digests["en"].topics)


def test_pipeline_falls_back_with_a_visible_notice(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    settings = tiny_settings(tiny_models, cache_dir=str(tmp_path))
    settings = settings.model_copy(
        update={
            "summarisation": settings.summarisation.model_copy(
                update={"model": "sshleifer/distilbart-cnn-12-6"}
            )
        }
    )
    pipeline = Pipeline(settings)
    doc = sample("en_briefing.txt")
    digest = pipeline.run(doc, ["en"], "neural")["en"]
    assert digest.engine == "extractive"
    choice = pipeline.registry.summariser("neural")
    assert choice.fallback is not None
    remedy = choice.fallback.remedy
    assert remedy.command == "briefing-digest models download sshleifer/distilbart-cnn-12-6"
    for lang in ("en", "hi", "ru"):
        expected = pipeline.resources.label(
            lang,
            "notice_engine_fallback",
            engine="neural",
            missing=remedy.missing,
            command=remedy.command,
        )
        assert expected in pipeline.run(doc, [lang], "neural")[lang].notices
    # "auto" falls back too, and says so with the same command.
    auto = pipeline.run(doc, ["en"], "auto")["en"]
    assert auto.engine == "extractive"
    assert any(remedy.command in n and "auto" in n for n in auto.notices)


def test_registry_shares_engines_and_imports_lazily(tiny_models: dict[str, Path]) -> None:
    settings = tiny_settings(tiny_models)
    registry = EngineRegistry(settings, {})
    first = registry.summariser("neural").summariser
    assert registry.summariser("neural").summariser is first
    assert registry.translator() is registry.translator()
    # The llm engine's model (Qwen by default) is not here: the offline engine answers, saying why.
    llm = registry.summariser("llm")
    assert llm.summariser is registry.extractive()
    assert llm.fallback is not None
    assert llm.fallback.remedy.command.startswith("briefing-digest models download")


def test_mixed_language_documents_translate_each_language(tiny_models: dict[str, Path]) -> None:
    settings = tiny_settings(tiny_models, summariser="bart")
    engine = summariser(settings)
    sentences = [SourceSentence(0, HINDI[0], "hi"), SourceSentence(1, RUSSIAN[1], "ru")]
    sentences.append(SourceSentence(2, "The ministers met in Moscow.", "en"))
    request = SummaryRequest("hi", sentences, [("all", [0, 1, 2])])
    result = engine.summarise(request)
    assert result.route[:2] == ["translate:hi->en:opus-mt", "translate:ru->en:opus-mt"]
    check_points(result, request)


def test_the_plan_names_each_step_before_any_model_runs(tiny_models: dict[str, Path]) -> None:
    english_kind = summariser(tiny_settings(tiny_models, summariser="bart"))
    sentences = [SourceSentence(0, HINDI[0], "hi"), SourceSentence(1, RUSSIAN[1], "ru")]
    sentences.append(SourceSentence(2, "The ministers met in Moscow.", "en"))
    # Sentence 1 (Russian) is in no topic: Russian needs no translation.
    plan = english_kind.plan(SummaryRequest("hi", sentences, [("all", [0, 2])]))
    assert plan.translate_to_english == ("hi",) and plan.summary_language == "en"
    assert plan.steps == ("translate:hi->en:opus-mt", f"summarise:en:{english_kind.model}")
    multilingual = summariser(tiny_settings(tiny_models, summariser="mt5"))
    plan = multilingual.plan(SummaryRequest("hi", sentences, [("all", [0, 1, 2])]))
    assert plan.translate_to_english == () and plan.summary_language == "hi"
    assert plan.steps == (f"summarise:hi:{multilingual.model}",)
