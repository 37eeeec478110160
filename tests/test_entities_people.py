"""People under Key names: each class of name a reader expects, and what is never a person.

Each test writes a short text of its own in the shape real transcripts have; the names in it
are chosen to be unknown to the glossary, so that the class, not a listed entry, finds them.
"""

from __future__ import annotations

from digest.names import _one_rendering, russian_names
from digest.pipeline import Pipeline
from tests.conftest import entity_names


def _people(pipeline: Pipeline, text: str, lang: str) -> list[str]:
    return entity_names(pipeline, text, "person", lang)


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
        "Глава Еврокомиссии У.фон дер Ляйен выступила в Брюсселе. "
        "В.Путин встретился с космонавтом Клоди Эньере в Кремле."
    )
    assert "Клоди Эньере" in people, people
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
        "Виктор Янукович прибыл в Ростов на встречу с журналистами."
    )
    assert "Сергей Викторович" not in people, people
    assert "Виктор Янукович" in people, people


def test_a_lone_given_name_names_nobody() -> None:
    people = _russian_people(
        "Я не могу ничего посоветовать, Владимир, в том, что касается второго вопроса. "
        "Владимир, спасибо за этот вопрос о фондовом рынке."
    )
    assert "Владимир" not in people, people


def test_a_name_glued_to_its_second_rendering_by_the_page_layout_is_cut() -> None:
    # kremlin.ru pages put a speaker card ("Столтенберг Йенс") right after the name.
    people = _russian_people(
        "Несмотря на это, тот же господин Столтенберг      Столтенберг Йенс , который "
        "возглавляет альянс, говорил о расширении блока на восток."
    )
    assert people == ["Столтенберг"], people
    glued = _one_rendering(["Д.Медведев", "Медведев", "Дмитрий", "АнатольевичЗаместитель"])
    assert glued == ["Д.Медведев"]
    assert _one_rendering(["Дмитрий", "АнатольевичЗаместитель"]) == ["Дмитрий", "Анатольевич"]


def test_a_russian_name_with_two_initials_and_a_particle_is_one_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Мы поддерживаем высказывавшуюся Президентом Бразилии Л.И.Лулой да Силва инициативу "
        "о переходе на собственные валюты во взаимной торговле стран объединения.",
        "ru",
    )
    assert "Л.И.Лула да Силва" in people, people


# Titles and honorifics before a name: rulers, clergy, courtesies, offices of a country.


def test_a_ruler_or_cleric_is_named_after_the_title(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "The President will attend the funeral of His Holiness Pope Tadeusz in Rome this week. "
        "The Prime Minister also met Crown Prince Khalid bin Farhan al-Zahrani in Riyadh, and "
        "they discussed energy cooperation and the safety of shipping in the region. Flags "
        "are at half mast to honour Her Majesty Queen Ingeborg II, a friend of the alliance.",
        "en",
    )
    # A pope or a ruler known by one name keeps the title; a longer name needs none.
    assert "Pope Tadeusz" in people, people
    assert "Queen Ingeborg II" in people, people
    assert "Khalid bin Farhan al-Zahrani" in people, people
    assert not any(p.startswith(("His", "Royal", "Crown")) for p in people), people


def test_a_hindi_title_of_a_ruler_cleric_or_rank_opens_a_name(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "राष्ट्रपति परमपावन पोप तादेउस के अंतिम संस्कार में शामिल होंगी। प्रधानमंत्री ने "
        "वरिष्ठ जनरल थान ज़ॉ ह्तुन से मुलाक़ात की। अगस्त में प्रोफेसर करीम रहमतुल्ला ने "
        "प्रधानमंत्री से बात की थी। संयुक्त राष्ट्र जनरल असेंबली में भी इस पर चर्चा हुई।",
        "hi",
    )
    assert "पोप तादेउस" in people, people
    assert "थान ज़ॉ ह्तुन" in people, people
    assert "करीम रहमतुल्ला" in people, people
    assert "असेंबली" not in people, people


def test_a_name_after_an_office_of_a_country_is_one_word(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "The Minister held talks with Minister of Foreign Affairs of the Republic of Indonesia "
        "Sutarjo, who will pay an official visit to Russia next week. The President of Russia "
        "has also invited the leaders of the region to the summit in Kazan.",
        "en",
    )
    assert "Sutarjo" in people, people
    assert not any("Russia" in p or "Kazan" in p for p in people), people


def test_an_ambiguous_title_needs_an_unmistakable_name(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "The President called Governor Kowalczyk ahead of the press conference today. "
        "The General Assembly will vote on the resolution, and General Electric will build "
        "the turbines. The Speaker said nothing about the schedule of the vote this week.",
        "en",
    )
    assert "Kowalczyk" in people, people
    assert not any(p in ("Assembly", "Electric", "Speaker") for p in people), people


def test_a_courtesy_vouches_for_a_name_that_looks_like_a_place_or_a_verb(
    pipeline: Pipeline,
) -> None:
    people = _people(
        pipeline,
        "इटली की प्रधानमंत्री सुश्री जॉर्जिया बरलोनी और कई अन्य नेता शामिल हैं। जहाँ तक "
        "प्रधानमंत्री स्तर पर बातचीत का प्रश्न है, विदेश मंत्री अक्टूबर में कोलंबो गए थे।",
        "hi",
    )
    assert "जॉर्जिया बरलोनी" in people, people
    assert not any(p in ("स्तर", "अक्टूबर") for p in people), people


def test_a_persons_name_before_the_body_it_heads_is_a_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Unlike its predecessor, the Donald Hartwell Administration demonstrates an "
        "understanding of the root causes of the conflict and seeks a dialogue with Moscow.",
        "en",
    )
    assert "Donald Hartwell" in people, people


def test_a_host_who_only_calls_on_reporters_is_a_key_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "MS. OKONKWO-BRANDT:  Hi, everybody.  Who do we have online?\n\n"
        "Q    Thank you.  Will the President meet the Prime Minister of Japan this month?\n\n"
        "MR. FINER:  The President will meet the Prime Minister in Tokyo next week, and they "
        "will discuss trade, the security of the region and the supply of semiconductors. "
        "They will also review the work of the joint commission on energy, which met twice "
        "this year, and the plans of both navies for exercises in the coming months. We "
        "expect a joint statement at the end of the visit, and a press conference.\n\n"
        "MS. OKONKWO-BRANDT:  Okay, who is next?",
        "en",
    )
    assert "Okonkwo-Brandt" in people, people
    assert "Finer" in people, people
    assert "Q" not in people


def test_runs_of_common_words_and_heading_labels_are_no_people(pipeline: Pipeline) -> None:
    english = _people(
        pipeline,
        "Long Term Visas issued to Hindu nationals are not affected by the decision. "
        "Long Term Visas remain valid, and the Green Line crossing stays open. The Green "
        "Line will be monitored by observers from both sides until the end of the year.",
        "en",
    )
    assert not any(p in ("Long Term Visas", "Green Line") for p in english), english
    hindi = _people(
        pipeline,
        "एक अन्य घोषणा: राष्ट्रपति श्रीमती द्रौपदी मुर्मु 25 और 26 अप्रैल को वेटिकन सिटी की यात्रा पर हैं।",
        "hi",
    )
    assert "एक अन्य घोषणा" not in hindi, hindi


def test_a_name_at_the_end_of_a_sentence_keeps_no_period(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "The Minister met Member of the Political Bureau of the Communist Party of China and "
        "Minister of Foreign Affairs of the People’s Republic of China Lin Xiaobo. They spoke "
        "about the situation in the region and about the preparations for the summit.",
        "en",
    )
    assert "Lin Xiaobo" in people, people
    assert not any(p.endswith(".") for p in people), people


def test_one_man_written_with_and_without_yo_is_listed_once(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Хотел бы попросить, скажем, Игоря Олеговича [Щёголева] высказаться по этому вопросу. "
        "И.Щеголев подробно рассказал о положении дел в Центральном федеральном округе.",
        "ru",
    )
    assert len([p for p in people if "Щ" in p]) == 1, people
    assert not any("[" in p for p in people), people


# Hindi: no capitals and no bundled tagger; a given name and a surname from the name lists.


def test_a_hindi_name_with_no_office_is_found_from_the_name_lists(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "इस बैठक में अमित शाह ने सुरक्षा स्थिति की समीक्षा की और अजय कुमार वर्मा भी मौजूद थे। "
        "भारत सरकार ने इस पर आशा व्यक्त की है कि दोनों पक्ष बातचीत जारी रखेंगे।",
        "hi",
    )
    assert "अमित शाह" in people, people
    assert "अजय कुमार वर्मा" in people, people
    assert not any(p.startswith(("भारत", "आशा")) for p in people), people


def test_a_foreign_surname_gets_no_vowel_it_never_had() -> None:
    people = _russian_people(
        "Встреча с канцлером Германии Олафом Шольцем прошла в Берлине. "
        "Позиция Олафа Шольца по этому вопросу известна. Павлом Петровым подписан договор. "
        "Заявления В.А.Зеленского ничего не меняют."
    )
    assert "В.А.Зеленский" in people, people
    assert "Олаф Шольц" in people, people
    assert not any("Шолец" in p for p in people), people
    assert "Павел Петров" in people, people


def test_a_surname_with_a_nobiliary_particle_is_a_person_without_a_given_name(
    pipeline: Pipeline,
) -> None:
    people = _people(
        pipeline,
        "The leaders will be brought together by the von der Brelen summit next month. "
        "Margit von der Brelen will chair it, and Margit von der Brelen will travel to Kyiv.",
        "en",
    )
    assert [p for p in people if "Brelen" in p] == ["Margit von der Brelen"], people


def test_a_surname_after_a_russian_courtesy_is_a_person_named_once(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Мы передали послание господину Хальворсену в Брюсселе, и он ответил на следующий "
        "день. Господин министр, спасибо за вопрос о переговорах в Стамбуле.",
        "ru",
    )
    assert "Хальворсен" in people, people
    assert not any(p.lower().startswith(("господин", "министр")) for p in people), people


def test_a_chinese_name_said_once_is_a_person(pipeline: Pipeline) -> None:
    # Family name first, then a given name of pinyin syllables: no given-name list has it.
    people = _people(
        pipeline,
        "We spoke about the meeting with Xi Jinping in San Francisco last year. "
        "The spokesperson Mao Ning answered questions about the tariffs on steel. "
        "He Said that the talks would continue, and Wang Gang reported on it.",
        "en",
    )
    assert "Xi Jinping" in people and "Mao Ning" in people, people
    # Common English words after a family name are no given name.
    assert not any(p in people for p in ("He Said", "Wang Gang")), people


def test_a_department_after_an_office_is_no_part_of_the_name(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "Secretary of Homeland Security Alejandro Mayorkas spoke about the border yesterday. "
        "Secretary of Homeland Security Alejandro Mayorkas will travel to Delhi next week. "
        "Tomorrow Secretary of Energy Granholm travels to Delhi for talks on solar power. "
        "Secretary of Energy Granholm will also meet industry leaders in Mumbai.",
        "en",
    )
    assert "Alejandro Mayorkas" in people, people
    assert not any("Energy" in p or "Security" in p for p in people), people
