from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from models.text.language import detect
from settings.schema import LanguageSettings

CFG = LanguageSettings()


def test_script_decides_hindi_and_russian_even_when_short() -> None:
    assert detect("नमस्ते", CFG).language == "hi"
    assert detect("भारत और रूस के बीच व्यापार बढ़ रहा है।", CFG).language == "hi"
    assert detect("Да", CFG).language == "ru"
    assert detect("Министр иностранных дел России Сергей Лавров", CFG).language == "ru"


def test_short_latin_text_is_english_not_slovak() -> None:
    for text in ("ok", "OK thanks", "Jaishankar, Lavrov", "INSTC EAEU"):
        found = detect(text, CFG)
        assert found.language == "en" and found.supported, text


def test_english_prose_is_english() -> None:
    text = "The two ministers discussed trade, energy and the reform of global governance."
    assert detect(text, CFG).language == "en"


def test_other_languages_are_unsupported_with_their_code() -> None:
    french = "Les deux ministres ont discuté du commerce, de l'énergie et de la réforme des institutions."
    german = "Die beiden Minister haben über den Handel und die Energiepolitik der Regierungen gesprochen."
    chinese = "两国外长讨论了贸易和能源合作问题。"
    assert detect(french, CFG).language == "fr" and not detect(french, CFG).supported
    assert detect(german, CFG).language == "de"
    assert not detect(chinese, CFG).supported


def test_no_letters_means_no_language() -> None:
    assert detect("12:30 — 14:00 ... 2025", CFG).language is None


@hsettings(max_examples=200, deadline=None)
@given(st.text())
def test_detection_is_total_and_deterministic(text: str) -> None:
    first = detect(text, CFG)
    assert first == detect(text, CFG)
    if first.supported:
        assert first.language in ("en", "hi", "ru")
