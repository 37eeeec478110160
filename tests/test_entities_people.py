"""People under Key names: each class of name a reader expects, and what is never a person.

Each test writes a short text of its own in the shape real transcripts have; the names in it
are chosen to be unknown to the glossary, so that the class, not a listed entry, finds them.
"""

from __future__ import annotations

from digest.model import Document
from digest.names import russian_names
from digest.pipeline import Pipeline


def _people(pipeline: Pipeline, text: str, lang: str) -> list[str]:
    digest = pipeline.run(Document("t.txt", text, "txt"), [lang])[lang]
    return [e.text for e in digest.entities if e.kind == "person"]


def _russian_people(text: str) -> list[str]:
    return [name for name, kind in russian_names(text) if kind == "person"]


# Russian: initials glued to the surname ("И.О.Фамилия"), as the MFA and the Kremlin write.


def test_an_unknown_surname_after_initials_comes_out_in_the_nominative() -> None:
    people = _russian_people(
        "Министр провёл переговоры с Президентом Ирана М.Пезешкианом в Москве. "
        "Мы поддерживаем инициативу Президента Бразилии Л.И.Лулой да Силва о валютах."
    )
    assert "М.Пезешкиан" in people, people
    assert "Л.И.Лула да Силва" in people, people


def test_a_surname_that_does_not_decline_is_left_as_written() -> None:
    people = _russian_people(
        "Заявления М.Санду о «сотнях миллионов» звучат неубедительно. "
        "Глава Еврокомиссии У.фон дер Ляйен выступила в Брюсселе."
    )
    assert "М.Санду" in people, people
    assert "У.фон дер Ляйен" in people, people


def test_an_office_the_tagger_takes_into_the_name_is_dropped() -> None:
    people = _russian_people(
        "Мы ценим готовность Премьер-министра В.Орбана предоставить площадку для встречи. "
        "Западные политики призывали Президента В.Ф.Януковича не применять силу."
    )
    assert "В.Орбан" in people, people
    assert "В.Ф.Янукович" in people, people
    assert not any(p.startswith(("Премьер", "Президент")) for p in people), people


def test_the_letter_yo_is_kept_as_the_transcript_writes_it() -> None:
    people = _russian_people("Глава «Росатома» А.Е.Лихачёв подробно говорил об этом на встрече.")
    assert "А.Е.Лихачёв" in people, people


def test_a_given_name_and_patronymic_alone_name_nobody() -> None:
    people = _russian_people(
        "Сергей Викторович, спасибо за ответ на вопрос о переговорах в Стамбуле. "
        "Роман Абрамович прибыл в Стамбул на переговоры."
    )
    assert "Сергей Викторович" not in people, people
    assert "Роман Абрамович" in people, people


def test_a_russian_name_with_two_initials_and_a_particle_is_one_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Мы поддерживаем высказывавшуюся Президентом Бразилии Л.И.Лулой да Силва инициативу "
        "о переходе на собственные валюты во взаимной торговле стран объединения.",
        "ru",
    )
    assert "Л.И.Лула да Силва" in people, people
