from digest.model import Document
from digest.pipeline import Pipeline


def test_glossary_names_come_out_in_the_digest_language(pipeline: Pipeline, moscow_briefing: Document) -> None:
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
