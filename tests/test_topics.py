from digest.model import Document
from digest.pipeline import Pipeline
from tests.conftest import sample

REQUIRED_ON_MOSCOW = {"trade", "connectivity", "defence", "consular", "multilateral", "energy"}


def test_moscow_briefing_has_the_expected_separate_topics(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    analysis = pipeline.analyse(moscow_briefing)
    ids = [g.id for g in analysis.groups]
    assert set(ids) >= REQUIRED_ON_MOSCOW, ids
    assert len(ids) == len(set(ids))
    by_id = {g.id: g for g in analysis.groups}
    text = {s.id: s.text for s in analysis.transcript.sentences}
    assert any("consulates" in text[i] for i in by_id["consular"].sentence_ids)
    assert any("Corridor" in text[i] for i in by_id["connectivity"].sentence_ids)
    assert any("oil" in text[i] for i in by_id["energy"].sentence_ids)
    assert any("Security Council" in text[i] for i in by_id["multilateral"].sentence_ids)
    # Each sentence belongs to one topic at most.
    seen = [i for g in analysis.groups for i in g.sentence_ids]
    assert len(seen) == len(set(seen))


def test_own_samples_find_several_topics_in_each_language(pipeline: Pipeline) -> None:
    for name, language in [
        ("en_briefing.txt", "en"),
        ("hi_briefing.txt", "hi"),
        ("ru_briefing.txt", "ru"),
    ]:
        analysis = pipeline.analyse(sample(name))
        assert analysis.transcript.language == language
        taxonomy_topics = [g for g in analysis.groups if not g.emergent]
        assert len(taxonomy_topics) >= 4, (name, [g.id for g in analysis.groups])


def test_content_outside_the_taxonomy_becomes_emergent_topics(pipeline: Pipeline) -> None:
    text = (
        "The ministers discussed trade and exports at length.\n\n"
        "The spokesperson described the new chess championship planned in Goa. "
        "The chess championship will bring grandmasters from forty nations. "
        "Organisers said the chess event would be broadcast live."
    )
    analysis = pipeline.analyse(Document("t.txt", text, "txt"))
    emergent = [g for g in analysis.groups if g.emergent]
    assert emergent and "chess" in emergent[0].keywords[0]
    assert len(emergent[0].sentence_ids) == 3


def test_max_topics_is_respected(settings, moscow_briefing: Document) -> None:
    limited = settings.model_copy(
        update={"summary": settings.summary.model_copy(update={"max_topics": 3})}
    )
    assert len(Pipeline(limited).analyse(moscow_briefing).groups) == 3
