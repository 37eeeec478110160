"""Translation: language codes and forced tokens, pivots, structure, glossary."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models.base import ModelUnavailableError
from models.engines.translation import (
    M2M100_CODES,
    NLLB_CODES,
    DirectionalTranslator,
    build_translator,
)
from models.runtimes.hf_loading import ModelCache
from models.runtimes.seq2seq import Seq2SeqRunner
from models.testing.tiny_seq2seq import WINDOW
from models.text.glossary import Glossary, is_variant
from settings.schema import ModelsSettings
from tests.neural_fixtures import directions, tiny_settings

if TYPE_CHECKING:
    import torch

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("isolated_hf_cache")]

PAIRS = [(s, t) for s, t in itertools.permutations(("en", "hi", "ru"), 2)]
TEXT = {
    "en": "The ministers discussed trade and energy.",
    "hi": "मंत्रियों ने व्यापार और ऊर्जा पर चर्चा की।",
    "ru": "Министры обсудили торговлю и энергетику.",
}


@dataclass
class Entry:
    forms: dict[str, str]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kind: str = "person"


GLOSSARY = Glossary(
    [
        Entry(
            {"en": "Sergey Lavrov", "hi": "सर्गेई लावरोव", "ru": "Сергей Лавров"},
            {
                "en": ("Sergey Lavrov", "Lavrov", "Sergei Lavrov"),
                "hi": ("सर्गेई लावरोव", "लावरोव"),
                "ru": ("Сергей Лавров", "Лавров", "Сергея Лаврова", "Сергеем Лавровым"),
            },
        ),
        Entry(
            {"en": "International North-South Transport Corridor", "ru": "МТК «Север — Юг»"},
            {
                "en": ("International North-South Transport Corridor", "INSTC"),
                "ru": ("МТК «Север — Юг»",),
            },
            "organisation",
        ),
        Entry(
            {"en": "India", "hi": "भारत", "ru": "Индия"},
            {"en": ("India",), "hi": ("भारत",), "ru": ("Индия", "Индии")},
            "place",
        ),
    ]
)


@pytest.fixture(scope="module")
def cache() -> ModelCache:
    return ModelCache(ModelsSettings())


def spy_generate(monkeypatch: pytest.MonkeyPatch, model: torch.nn.Module) -> list[dict]:
    """Record every generate call's inputs and outputs on ``model``."""
    calls: list[dict] = []
    real = model.generate

    def spy(**kwargs: object) -> torch.Tensor:
        out = real(**kwargs)
        calls.append({**kwargs, "sequences": out})
        return out

    monkeypatch.setattr(model, "generate", spy)
    return calls


@pytest.mark.parametrize(("family", "codes"), [("nllb", NLLB_CODES), ("m2m100", M2M100_CODES)])
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_multilingual_models_force_the_target_language(
    family: str,
    codes: dict[str, str],
    source: str,
    target: str,
    cache: ModelCache,
    tiny_models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = tiny_settings(tiny_models, translation=family)
    translator = build_translator(settings.translation, settings.models, cache)
    loaded = cache.get(str(tiny_models[family]))
    tokenizer = loaded.tokenizer
    if family == "m2m100":
        expected_target = tokenizer.get_lang_id(codes[target])
        expected_source = tokenizer.get_lang_id(codes[source])
    else:
        expected_target = tokenizer.convert_tokens_to_ids(codes[target])
        expected_source = tokenizer.convert_tokens_to_ids(codes[source])
    assert expected_target != tokenizer.unk_token_id
    calls = spy_generate(monkeypatch, loaded.model)
    out = translator.translate([TEXT[source]], source, target)
    assert len(out) == 1
    (call,) = calls
    assert call["forced_bos_token_id"] == expected_target
    # The source code opens every encoder input; the target code follows the decoder start.
    assert call["input_ids"][:, 0].tolist() == [expected_source]
    assert call["sequences"][:, 1].tolist() == [expected_target]
    assert translator.route(source, target)[0].model == str(tiny_models[family])


def test_hindi_to_russian_pivots_through_english(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tiny_models)
    translator = build_translator(settings.translation, settings.models, cache)
    assert translator.name == "opus-mt"
    hops = translator.route("hi", "ru")
    assert [(h.source, h.target, Path(h.model).name) for h in hops] == [
        ("hi", "en", "marian-hi-en"),
        ("en", "ru", "marian-en-ru"),
    ]
    used: list[str] = []
    real = Seq2SeqRunner.generate

    def record(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        used.append(Path(self.name).name)
        return real(self, texts, **kwargs)

    monkeypatch.setattr(Seq2SeqRunner, "generate", record)
    out = translator.translate([TEXT["hi"], TEXT["hi"]], "hi", "ru")
    assert used == ["marian-hi-en", "marian-en-ru"]
    assert len(out) == 2
    assert translator.supports("ru", "hi") and translator.supports("en", "hi")


def test_a_direct_model_beats_the_pivot(cache: ModelCache, tiny_models: dict[str, Path]) -> None:
    models = directions(tiny_models) | {"hi-ru": str(tiny_models["marian-en-ru"])}
    settings = tiny_settings(tiny_models, direction_models=models)
    translator = build_translator(settings.translation, settings.models, cache)
    assert [h.model for h in translator.route("hi", "ru")] == [str(tiny_models["marian-en-ru"])]


def test_a_missing_pivot_model_is_named(
    cache: ModelCache, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    models = directions(tiny_models) | {"en-ru": "Helsinki-NLP/opus-mt-en-ru"}
    settings = tiny_settings(tiny_models, direction_models=models, cache_dir=str(tmp_path))
    translator = build_translator(settings.translation, settings.models, cache)
    assert not translator.supports("hi", "ru") and not translator.supports("en", "ru")
    assert translator.supports("hi", "en")
    message = translator.missing_message("hi", "ru")
    assert "briefing-digest models download Helsinki-NLP/opus-mt-en-ru" in message
    with pytest.raises(ModelUnavailableError, match="opus-mt-en-ru"):
        translator.translate(["x"], "hi", "ru")


def test_no_translation_model_at_all(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    models = {"en-hi": "Helsinki-NLP/opus-mt-en-hi", "hi-en": "Helsinki-NLP/opus-mt-hi-en"}
    settings = tiny_settings(tiny_models, direction_models=models, cache_dir=str(tmp_path))
    with pytest.raises(ModelUnavailableError) as caught:
        build_translator(settings.translation, settings.models, ModelCache(settings.models))
    assert (
        "briefing-digest models download Helsinki-NLP/opus-mt-en-hi Helsinki-NLP/opus-mt-hi-en"
        in str(caught.value)
    )
    multilingual = tiny_settings(tiny_models, translation="nllb")
    missing = multilingual.translation.model_copy(
        update={"multilingual_model": "facebook/nllb-200-distilled-600M"}
    )
    with pytest.raises(
        ModelUnavailableError, match="models download facebook/nllb-200-distilled-600M"
    ):
        build_translator(missing, settings.models, ModelCache(settings.models))


def echo_translator(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, mode: str = "post_edit"
) -> tuple[DirectionalTranslator, list[list[str]]]:
    """A translator whose model copies its input: the glossary's work is then visible."""
    settings = tiny_settings(tiny_models)
    translation = settings.translation.model_copy(update={"glossary": mode})
    translator = DirectionalTranslator(
        translation, settings.models, ModelCache(settings.models), GLOSSARY
    )
    seen: list[list[str]] = []

    def echo(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        seen.append(list(texts))
        assert all(self.count(t) <= self.budget for t in texts)
        return list(texts)

    monkeypatch.setattr(Seq2SeqRunner, "generate", echo)
    return translator, seen


def test_lines_bullets_and_order_are_kept(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    translator, seen = echo_translator(tiny_models, monkeypatch)
    texts = ["- First point. Second sentence!\n\n2. Third point", "Plain text.", "", "* only"]
    out = translator.translate(texts, "en", "hi")
    assert out == texts
    # One batch of sentence units for all texts.
    assert seen == [["First point.", "Second sentence!", "Third point", "Plain text.", "only"]]


def test_sentences_longer_than_the_window_are_split_not_cut(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    translator, seen = echo_translator(tiny_models, monkeypatch)
    long_sentence = " ".join(["trade energy corridor talks"] * 50)
    out = translator.translate([long_sentence], "en", "ru")
    assert len(seen[0]) > 1  # split into window-sized pieces
    assert out[0].split() == long_sentence.split()


def test_real_tiny_models_translate_long_text_within_the_window(
    cache: ModelCache, tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tiny_settings(tiny_models)
    translator = build_translator(settings.translation, settings.models, cache)
    calls = spy_generate(monkeypatch, cache.get(str(tiny_models["marian-en-hi"])).model)
    out = translator.translate([" ".join([TEXT["en"][:-1]] * 30) + "."], "en", "hi")
    assert len(out) == 1
    assert len(calls) == 1 and calls[0]["input_ids"].shape[0] > 1
    assert calls[0]["input_ids"].shape[1] <= WINDOW


def test_glossary_names_come_out_the_same_every_time(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    translator, _ = echo_translator(tiny_models, monkeypatch)
    text = "Sergei Lavrov spoke about the INSTC and India."
    first = translator.translate([text], "en", "ru")[0]
    # The echo "model" left English names in a Russian text: they become the glossary forms.
    assert first == "Сергей Лавров spoke about the МТК «Север — Юг» and Индия."
    assert translator.translate([text, text], "en", "ru") == [first, first]
    # A spelling variant the model wrote becomes the canonical form; short forms stay short.
    monkeypatch.setattr(
        Seq2SeqRunner,
        "generate",
        lambda self, texts, **kw: ["Sergei Lavrov and Lavrov."] * len(texts),
    )
    assert translator.translate(["सर्गेई लावरोव और लावरोव।"], "hi", "en")[0] == (
        "Sergey Lavrov and Lavrov."
    )


def test_glossary_placeholders_shield_names_and_fall_back(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    translator, seen = echo_translator(tiny_models, monkeypatch, mode="placeholders")
    out = translator.translate(["Lavrov visited India."], "en", "hi")[0]
    assert seen[0] == ["§0§ visited §1§."]
    assert out == "सर्गेई लावरोव visited भारत."

    def lossy(self: Seq2SeqRunner, texts: list[str], **kwargs: object) -> list[str]:
        seen.append(list(texts))
        return [t.replace("§", "") for t in texts]

    monkeypatch.setattr(Seq2SeqRunner, "generate", lossy)
    seen.clear()
    out = translator.translate(["Lavrov visited India."], "en", "hi")[0]
    assert seen == [["§0§ visited §1§."], ["Lavrov visited India."]]  # translated again, plain
    assert out == "सर्गेई लावरोव visited भारत."  # and post-edited
    translator.settings = translator.settings.model_copy(update={"glossary": "off"})
    monkeypatch.setattr(Seq2SeqRunner, "generate", lambda self, texts, **kw: list(texts))
    assert translator.translate(["Lavrov visited India."], "en", "hi")[0] == "Lavrov visited India."


def test_glossary_matching_and_variants() -> None:
    terms = GLOSSARY.find("Sergei Lavrov and Lavrov; Indian India", "en")
    assert [t.surface for t in terms] == ["Sergei Lavrov", "Lavrov", "India"]
    assert [t.surface for t in GLOSSARY.find("भारतीय और भारत।", "hi")] == ["भारत"]
    assert not GLOSSARY.find("instc", "en")  # case-sensitive, as the glossary says
    assert is_variant("Sergei Lavrov", "Sergey Lavrov", "en")
    assert not is_variant("Lavrov", "Sergey Lavrov", "en")
    assert not is_variant("INSTC", "International North-South Transport Corridor", "en")
    assert not is_variant("Сергея Лаврова", "Сергей Лавров", "ru")  # a case form carries grammar
    assert is_variant("С.В. Лавров", "Сергей Лавров", "ru")
    # Russian case forms the model wrote are left as they are.
    edited = GLOSSARY.post_edit("встреча с Сергеем Лавровым", "Lavrov", "en", "ru")
    assert edited == "встреча с Сергеем Лавровым"


def test_the_project_glossary_loads(settings: object) -> None:
    from digest.resources import load_resources

    prompts = settings.paths.prompts_dir  # type: ignore[attr-defined]
    if not (prompts / "glossary.toml").exists():
        pytest.skip("prompts/glossary.toml is not there yet")
    glossary = Glossary(load_resources(prompts).glossary)
    assert len(glossary) > 10
    found = {
        glossary.entries[t.entry].forms["en"] for t in glossary.find("Lavrov met Jaishankar", "en")
    }
    assert len(found) == 2
