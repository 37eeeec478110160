import subprocess
import sys

import pytest

from digest.model import Document
from digest.pipeline import Pipeline
from models.base import Point
from settings import PROJECT_ROOT
from tests.conftest import sample


def test_english_digest_of_the_moscow_briefing(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    digest = pipeline.run(moscow_briefing, ["en"])["en"]
    assert digest.source_language == "en" and digest.language == "en"
    assert digest.engine == "extractive"
    assert digest.headline
    names = {e.text for e in digest.entities}
    assert {"Sergey Lavrov", "Moscow"} <= names
    assert any(e.kind == "person" for e in digest.entities)
    assert any(e.kind == "organisation" for e in digest.entities)
    assert not digest.notices


@pytest.mark.parametrize("target", ["hi", "ru"])
def test_other_languages_without_a_translator_say_so(
    pipeline: Pipeline, moscow_briefing: Document, target: str
) -> None:
    digest = pipeline.run(moscow_briefing, [target])[target]
    english = pipeline.run(moscow_briefing, ["en"])["en"]
    # Titles come in the asked language, bullets stay English, and a notice says why.
    assert [t.id for t in digest.topics] == [t.id for t in english.topics]
    titles = {t.id: t.title for t in digest.topics}
    assert titles["trade"] == pipeline.resources.topic_title("trade", target)
    assert titles["trade"] != pipeline.resources.topic_title("trade", "en")
    assert [b.text for t in digest.topics for b in t.bullets] == [
        b.text for t in english.topics for b in t.bullets
    ]
    # The notice, in the digest's language, names the model and the command that fetches it.
    model = f"Helsinki-NLP/opus-mt-en-{target}"
    expected = pipeline.resources.label(
        target,
        "notice_translation_unavailable",
        source="en",
        target=target,
        source_name=pipeline.resources.language_name("en", target),
        missing=model,
        command=f"briefing-digest models download {model}",
    )
    assert digest.notices == (expected,)


def test_translator_is_used_per_source_language(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    class Upper:
        name = "upper"
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, int]] = []

        def supports(self, source: str, target: str) -> bool:
            return (source, target) == ("en", "ru")

        def translate(self, texts, source, target):
            self.calls.append((source, target, len(texts)))
            return [t.upper() for t in texts]

    translator = Upper()
    pipeline.registry.translator = lambda: translator  # type: ignore[method-assign]
    try:
        digest = pipeline.run(moscow_briefing, ["en", "ru"])
    finally:
        del pipeline.registry.translator
    assert translator.calls == [("en", "ru", 1 + sum(len(t.bullets) for t in digest["en"].topics))]
    assert digest["ru"].headline == digest["en"].headline.upper()
    assert "translate:en->ru:upper" in digest["ru"].route
    assert not digest["ru"].notices


def test_hindi_and_russian_samples_digest_in_their_language(pipeline: Pipeline) -> None:
    for name, lang in [("hi_briefing.txt", "hi"), ("ru_briefing.txt", "ru")]:
        digest = pipeline.run(sample(name), [lang])[lang]
        assert digest.source_language == lang
        assert len(digest.topics) >= 4
        assert all(1 <= len(t.bullets) <= 3 for t in digest.topics)
        assert not digest.notices


def test_unsupported_output_language_is_refused(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    with pytest.raises(ValueError, match="unsupported output language: fr"):
        pipeline.run(moscow_briefing, ["fr"])


def test_progress_reports_each_stage(pipeline: Pipeline, moscow_briefing: Document) -> None:
    stages = []
    pipeline.run(moscow_briefing, ["en", "hi"], progress=stages.append)
    assert [s.stage for s in stages] == ["language", "topics", "summarising", "translating"]


def test_point_language_defaults_to_none() -> None:
    assert Point("x", (0,)).language is None


def test_offline_path_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import sys; from cli.main import main; "
        "main(['digest', 'samples/en_briefing.txt', '--lang', 'en,hi']); "
        "bad = [m for m in ('torch', 'transformers', 'ctranslate2') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_llm_engine_without_its_model_falls_back_with_a_notice(settings, moscow_briefing: Document, tmp_path) -> None:
    missing = str(tmp_path / "no-such-llm")
    llm = settings.llm.model_copy(update={"model": missing})
    pipeline = Pipeline(settings.model_copy(update={"llm": llm}))
    digest = pipeline.run(moscow_briefing, ["en"], engine="llm")["en"]
    assert digest.engine == "extractive"
    assert digest.topics
    assert any(missing in notice for notice in digest.notices)
