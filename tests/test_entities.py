from digest.model import Document
from digest.pipeline import Pipeline
from tests.conftest import entity_names


def test_glossary_names_come_out_in_the_digest_language(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    digests = pipeline.run(moscow_briefing, ["en", "hi", "ru"])
    by_language = {lang: {e.text: e.kind for e in d.entities} for lang, d in digests.items()}
    assert by_language["en"]["Sergey Lavrov"] == "person"
    assert "Сергей Лавров" in by_language["ru"]
    assert by_language["ru"]["Москва"] == "place"
    assert any("लावरोव" in name for name in by_language["hi"])
    # The same entities, in the same order, whatever the language.
    kinds = [[e.kind for e in d.entities] for d in digests.values()]
    assert kinds[0] == kinds[1] == kinds[2]


def test_russian_case_forms_count_as_one_entity(pipeline: Pipeline) -> None:
    text = (
        "Министр прибыл в Москву. В Москве прошли переговоры. "
        "Из Москвы делегация отправилась в Казань."
    )
    digest = pipeline.run(Document("t.txt", text, "txt"), ["ru"])["ru"]
    moscow = [e for e in digest.entities if e.text == "Москва"]
    assert moscow and moscow[0].mentions == 3


def test_repeated_unknown_names_are_listed_without_leading_articles(pipeline: Pipeline) -> None:
    text = (
        "The Indian Navy held an exercise near the coast. "
        "The Indian Navy said the exercise was routine and focused on security cooperation."
    )
    digest = pipeline.run(Document("t.txt", text, "txt"), ["en"])["en"]
    names = [e.text for e in digest.entities]
    assert "Indian Navy" in names
    assert not any(name.startswith("The ") for name in names)


def _people(pipeline: Pipeline, text: str) -> list[str]:
    return entity_names(pipeline, text, "person")


def test_a_name_with_an_unlisted_surname_counts_once_named(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "We are working every day to bring Evan Gershkovich home to his family. "
        "The appeal was denied by a court in Moscow last week, which we deplore.",
    )
    assert "Evan Gershkovich" in people


def test_capitalised_common_words_are_no_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "The Affordable Care Act covers millions of families across the country. "
        "The Affordable Care Act was strengthened by the executive order signed today. "
        "Happy Mother’s Day to all the mothers who are listening to this call today. "
        "The Global South expects results, and the Global South will be heard at the summit.",
    )
    assert people == []


def test_possessives_honorifics_and_offices_are_not_part_of_names(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "President Smt. Droupadi Murmu will attend the funeral in Vatican City this week. "
        "Mr. Prime Minister, thank you for the warm welcome you gave us in the capital. "
        "President Putin’s statement on the grain corridor was studied by the ministry. "
        "National Security Advisor Shri Ajit Doval met the Secretary of the Security Council.",
    )
    assert "Droupadi Murmu" in people
    assert not any("’" in p or "'" in p or p.startswith(("Smt", "Prime")) for p in people)
    assert not any("Shri" in p or "Advisor" in p for p in people)


def test_reporters_called_on_by_the_moderator_are_not_key_people(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "MR. ZISKEND:  Let’s go to Barak Ravid.  Barak.\n\n"
        "Q    Thanks.  Will the President meet the Prime Minister of Israel this month?\n\n"
        "MR. FINER:  The President will meet Prime Minister Netanyahu in New York next week, "
        "and they will discuss the hostages and the humanitarian situation in Gaza.\n\n"
        "MR. ZISKEND:  Let’s go back to Barak Ravid for a follow-up.",
    )
    assert "Barak Ravid" not in people
    assert any("Netanyahu" in p for p in people)


def test_a_chinese_family_name_alone_is_the_same_person(pipeline: Pipeline) -> None:
    people = _people(
        pipeline,
        "President Xi Jinping will not attend the summit in New Delhi this year. "
        "We expect President Xi to be represented by the premier at the meeting.",
    )
    assert [p for p in people if p.startswith("Xi")] == ["Xi Jinping"]


def test_a_cut_off_word_before_a_dash_is_no_name_and_no_crash(pipeline: Pipeline) -> None:
    # White House transcripts keep stutters: "Minist- —", "Ree- —".
    people = _people(
        pipeline,
        "We met the Prime Minist- — thank you, Mr. President — the Prime Minister today. "
        "We spoke about Ronald Reagan Ree- — the Reagan National Airport and its safety.",
    )
    assert not any(p.endswith("-") for p in people)


def test_storms_regions_offices_and_called_reporters_are_no_people(pipeline: Pipeline) -> None:
    people = entity_names(
        pipeline,
        "Hurricane Helene hit the coast, and Hurricane Helene left thousands without power. "
        "The Western Balkans need stability, and the Western Balkans will be on the agenda. "
        "Mayor Karen Bass asked for federal help, and Karen Bass thanked the agencies today. "
        "Representative Doggett of Texas wrote to us, and Doggett of Texas wants an answer.\n\n"
        "MS. JEAN-PIERRE:  Christian Datoc.\n\n"
        "Q    Thank you.  Will the President visit the region next week?\n\n"
        "MS. JEAN-PIERRE:  Christian Datoc, go ahead.  The President will visit next week.",
        "person",
    )
    assert "Karen Bass" in people
    assert not any(p.startswith(("Hurricane", "Western", "Mayor", "Christian")) for p in people)
    assert not any(" of " in p for p in people)


def test_acronyms_are_organisations_unless_common_words(pipeline: Pipeline) -> None:
    organisations = entity_names(
        pipeline,
        "The WMCC met in Beijing and agreed on the next steps along the border yesterday. "
        "The GDP of the region fell, and the GDP data will be published by the statistics office.",
        "organisation",
    )
    assert "WMCC" in organisations
    assert "GDP" not in organisations


def test_russian_organisations_keep_the_case_after_their_head_word(pipeline: Pipeline) -> None:
    organisations = entity_names(
        pipeline,
        "Сотрудники Федеральной службы безопасности задержали подозреваемого в Москве. "
        "По данным Федеральной службы безопасности, он готовил поджог в центре города.",
        "organisation",
        "ru",
    )
    assert "Федеральная служба безопасности" in organisations, organisations


def test_an_unnamed_official_is_named_by_office_in_the_transcript_language(
    pipeline: Pipeline,
) -> None:
    text = (
        "SENIOR ADMINISTRATION OFFICIAL:  The review of our policy toward the region is in its "
        "final stages, and we will host our allies next week to discuss the outcomes.\n\n"
        "MODERATOR:  Next question, please.\n\n"
        "Q    Thank you.  Will sanctions be part of the review?\n\n"
        "SENIOR ADMINISTRATION OFFICIAL:  Sanctions remain in force, and we will enforce every "
        "resolution of the Security Council on the missile program."
    )
    digests = pipeline.run(Document("t.txt", text, "txt"), ["en", "ru"])
    speakers = {b.speaker for t in digests["en"].topics for b in t.bullets}
    assert speakers == {"Senior administration official"}
    assert {b.speaker for t in digests["ru"].topics for b in t.bullets} == {None}


def test_russian_places_are_matched_in_the_nominative_and_the_west_is_no_place(
    pipeline: Pipeline,
) -> None:
    digest = pipeline.run(
        Document(
            "t.txt",
            "Представители Соединенных Штатов Америки прибыли в Москву для переговоров. "
            "Запад продолжает давление, а СМИ Запада пишут о санкциях против России.",
            "txt",
        ),
        ["en"],
    )["en"]
    places = [e.text for e in digest.entities if e.kind == "place"]
    organisations = [e.text for e in digest.entities if e.kind == "organisation"]
    assert "United States" in places and "Zapad" not in places, places
    assert "SMI" not in organisations


def test_hindi_initials_go_on_to_the_name(pipeline: Pipeline) -> None:
    people = entity_names(
        pipeline,
        "डा. अंजू कुमार, संयुक्त सचिव और श्री जी.वी. श्रीनिवास जो लातिन अमेरिकी देशों का कार्य "
        "देखते हैं, आज हमारे साथ हैं।",
        "person",
        "hi",
    )
    assert "जी.वी. श्रीनिवास" in people, people


def test_a_name_after_a_long_office_of_a_country_is_found(pipeline: Pipeline) -> None:
    people = entity_names(
        pipeline,
        "He conveyed a message from President of the People’s Republic of China Xi Jinping. "
        "President of the People’s Republic of China Xi Jinping accepted the invitation. "
        "And Happy Mother’s Day to everyone who is listening to the call this morning. "
        "Victory Day will be marked in Moscow with a parade on the square in May.",
        "person",
    )
    assert "Xi Jinping" in people
    assert not any(p.endswith("Day") for p in people), people
