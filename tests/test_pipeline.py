import subprocess
import sys

import pytest

from digest.model import Document
from digest.pipeline import Pipeline, _translate
from models.base import Point
from settings import PROJECT_ROOT
from tests.conftest import sample, shared_sample


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
def test_other_languages_without_a_translator_say_so(pipeline: Pipeline, target: str) -> None:
    briefing = sample("en_briefing.txt")
    digest = pipeline.run(briefing, [target])[target]
    english = pipeline.run(briefing, ["en"])["en"]
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


def test_translator_is_used_per_source_language(pipeline: Pipeline) -> None:
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
        digest = pipeline.run(sample("en_briefing.txt"), ["en", "ru"])
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
        limit = pipeline.settings.summary.max_bullets
        assert all(1 <= len(t.bullets) <= limit for t in digest.topics)
        assert not digest.notices


def test_unsupported_output_language_is_refused(pipeline: Pipeline) -> None:
    with pytest.raises(ValueError, match="unsupported output language: fr"):
        pipeline.run(sample("en_briefing.txt"), ["fr"])


def test_progress_reports_each_stage(pipeline: Pipeline) -> None:
    stages = []
    pipeline.run(sample("en_briefing.txt"), ["en", "hi"], progress=stages.append)
    assert [s.stage for s in stages] == ["language", "topics", "summarising", "translating"]


def test_points_without_a_language_are_translated_from_the_summarys() -> None:
    class Tagging:
        name = "tag"

        def supports(self, source: str, target: str) -> bool:
            return True

        def translate(self, texts: list[str], source: str, target: str) -> list[str]:
            return [f"[{source}->{target}] {t}" for t in texts]

    points = [Point("plain", (0,)), Point("hindi extract", (1,), "hi"), Point("same", (2,), "ru")]
    texts, route, missing = _translate(points, "en", "ru", Tagging())
    # No language of its own: the summary's (en). Its own: that one. The target's: untouched.
    assert texts == ["[en->ru] plain", "[hi->ru] hindi extract", "same"]
    assert route == ["translate:en->ru:tag", "translate:hi->ru:tag"] and missing == []
    assert _translate(points, "en", "ru", None)[2] == ["en", "hi"]


# What the [neural] and [llm] extras provide; a core install has none of them.
EXTRAS_ONLY = (
    "torch",
    "transformers",
    "jinja2",
    "ctranslate2",
    "onnxruntime_genai",
    "sentencepiece",
    "huggingface_hub",
)
# Modules that are the extras' engines themselves (imported only when the engine is asked for).
ENGINE_MODULES = (
    "models.engines.llm",
    "models.engines.llm_prompts",
    "models.runtimes.causal_lm",
    "models.runtimes.ct2_causal",
    "models.runtimes.ort_causal",
    "models.runtimes.stepwise",
    "models.runtimes.llm_generation",
    "models.runtimes.llm_stopping",
)


def test_core_imports_and_digests_without_the_extras() -> None:
    # None in sys.modules makes every import of the module fail, as on a core install.
    code = f"""
import importlib, pkgutil, sys
for name in {EXTRAS_ONLY!r}:
    sys.modules[name] = None
for package in ("settings", "digest", "models", "cli", "bot"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name not in {ENGINE_MODULES!r}:
            importlib.import_module(info.name)
from cli.main import main
sys.exit(main(["digest", "samples/en_briefing.txt", "--lang", "en,hi"]))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ")
    # Without the extras, the Hindi digest names the extra that brings translation.
    assert "pip install 'briefing-digest[neural]'" in result.stdout


def test_llm_engine_without_its_model_falls_back_with_a_notice(settings, tmp_path) -> None:
    missing = str(tmp_path / "no-such-llm")
    llm = settings.llm.model_copy(update={"model": missing})
    pipeline = Pipeline(settings.model_copy(update={"llm": llm}))
    digest = pipeline.run(sample("en_briefing.txt"), ["en"], engine="llm")["en"]
    assert digest.engine == "extractive"
    assert digest.topics
    assert any(missing in notice for notice in digest.notices)


def test_a_missing_shared_sample_fails_in_ci_and_skips_elsewhere(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "en_moscow_briefing.txt"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        shared_sample(missing)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="is not present"):
        shared_sample(missing)
    missing.write_text("The ministers met.", encoding="utf-8")
    assert shared_sample(missing).text == "The ministers met."


def test_a_missing_llm_is_reported_before_torch_is_loaded(tmp_path) -> None:
    missing = tmp_path / "no-such-llm"
    code = f"""
import sys
from cli.main import main
code = main(["--config", {str(tmp_path / "llm.toml")!r}, "digest", "samples/en_briefing.txt",
             "--engine", "llm"])
heavy = [m for m in ("torch", "transformers", "models.engines.llm") if m in sys.modules]
sys.exit(f"loaded {{heavy}}" if heavy else code)
"""
    (tmp_path / "llm.toml").write_text(f'[llm]\nmodel = "{missing}"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"model directory {missing}" in result.stdout and "Engine: extractive" in result.stdout
