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
        "Organisers said the chess championship would be broadcast live."
    )
    analysis = pipeline.analyse(Document("t.txt", text, "txt"))
    emergent = [g for g in analysis.groups if g.emergent]
    assert emergent and emergent[0].keywords[0] == "chess championship"
    assert len(emergent[0].sentence_ids) == 3


def test_names_single_words_and_parts_of_longer_terms_name_no_topic(
    pipeline: Pipeline, settings
) -> None:  # type: ignore[no-untyped-def]
    from digest.emergent import emergent_groups
    from digest.segment import segment

    text = (
        "Guatemala welcomed the senior administration official to the highlands. "
        "Guatemala certainly hosted the senior administration official near the coast. "
        "Guatemala certainly expects the senior administration official back in spring. "
        "Guatemala certainly thanked the senior administration official for the visit."
    )
    transcript = segment(Document("t.txt", text, "txt"), pipeline.resources, settings.language)
    every = [s.id for s in transcript.sentences]
    groups = emergent_groups(transcript, every, pipeline.resources, room=4)
    # A name, a lone word and the opening of "senior administration official" name nothing.
    assert [g.keywords for g in groups if g.keywords] == []


def test_max_topics_is_respected(settings, moscow_briefing: Document) -> None:
    limited = settings.model_copy(
        update={"summary": settings.summary.model_copy(update={"max_topics": 3})}
    )
    assert len(Pipeline(limited).analyse(moscow_briefing).groups) == 3


def test_nuclear_arms_are_not_energy(pipeline: Pipeline) -> None:
    text = (
        "The ministers discussed the new power units of the nuclear power plant and its fuel.\n\n"
        "China’s nuclear arsenal is an order of magnitude smaller than those of Russia and the "
        "United States. The nuclear forces of Britain and France must be taken into account. "
        "The New START Treaty expires in February, and nuclear arsenals keep growing."
    )
    analysis = pipeline.analyse(Document("t.txt", text, "txt"))
    topic_of = {i: g.id for g in analysis.groups for i in g.sentence_ids}
    arms = [s.id for s in analysis.transcript.sentences if "arsenal" in s.text or "forces" in s.text]
    assert arms and all(topic_of.get(i) == "nuclear" for i in arms), topic_of


def _topic_scores(pipeline: Pipeline, text: str) -> list[set[str]]:
    transcript = segment_text(pipeline, text)
    return [set(score) for score in pipeline._topics.scores(transcript)]


def test_english_keywords_keep_the_sense_of_their_written_form(pipeline: Pipeline) -> None:
    # "goods", "talks" and "nationals" are keywords; "good", "talk" and "national" are not
    # forms of them here, and "important" is no import.
    scores = _topic_scores(
        pipeline,
        "It is a good and important thing to talk about the national team. "
        "Trade in goods grew, and the talks covered our nationals abroad.",
    )
    assert not scores[0] & {"trade", "summits", "consular"}, scores[0]
    assert scores[1] >= {"trade", "summits", "consular"}, scores[1]


def test_a_title_before_a_name_is_no_topic_evidence(pipeline: Pipeline) -> None:
    scores = _topic_scores(
        pipeline,
        "Defense Minister Gallant is in town today and tomorrow for meetings. "
        "The Secretary of Energy Granholm arrives in the afternoon for a visit. "
        "The Ministry of Defence said the arms purchase report was false.",
    )
    assert "defence" not in scores[0] and "energy" not in scores[1], scores
    assert "defence" in scores[2], scores[2]
    ru = _topic_scores(pipeline, "Министр обороны С.К.Шойгу прибыл в Минск с визитом.")
    assert "defence" not in ru[0], ru


def test_the_pages_opening_lines_head_no_section(pipeline: Pipeline) -> None:
    # A venue line ("... Exhibition ... Centre") would otherwise file the whole briefing under
    # culture; a subheading inside the text still steers its section.
    text = (
        "Press Briefing by the National Security Advisor\n\n"
        "International Exhibition-cum-Convention Centre New Delhi, India\n\n"
        "We will see the leaders this afternoon and then a dinner.\n\n"
        "We expect the leaders to go through the agenda item by item.\n\n"
        "Energy cooperation\n\n"
        "The leaders will then turn to the remaining items one by one."
    )
    transcript = segment_text(pipeline, text)
    from digest.topics import _sections

    sections = _sections(transcript, pipeline._topics.scores(transcript))
    statements = [s for s in transcript.sentences if s.informative]
    assert "culture" not in sections[statements[0].id], sections[statements[0].id]
    assert "energy" in sections[statements[-1].id], sections[statements[-1].id]


def test_a_un_resolution_is_multilateral(pipeline: Pipeline) -> None:
    scores = _topic_scores(
        pipeline, "Today we abstained on a U.N. resolution calling for a ceasefire in Gaza."
    )
    assert "multilateral" in scores[0], scores


def segment_text(pipeline: Pipeline, text: str):  # type: ignore[no-untyped-def]
    from digest.segment import segment

    return segment(Document("t.txt", text, "txt"), pipeline.resources, pipeline.settings.language)


def test_a_statement_repeated_word_for_word_is_one_bullet_candidate(pipeline: Pipeline) -> None:
    from digest.model import SentenceKind

    said = "We expect the leaders to sign the trade agreement on Friday in Delhi."
    transcript = segment_text(
        pipeline, f"{said} Trade grew by ten percent last year.\n\nIn short: {said}\n\n{said}"
    )
    kinds = [s.kind for s in transcript.sentences if s.text == said]
    assert kinds[0] is SentenceKind.STATEMENT
    assert kinds[1:] and all(k is SentenceKind.REPEAT for k in kinds[1:]), kinds
