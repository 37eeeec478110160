import re

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from digest.errors import DigestError, UnsupportedLanguageError
from digest.model import Document
from digest.resources import load_resources
from digest.segment import segment
from digest.sentences import split_sentences
from settings.schema import LanguageSettings


@pytest.fixture(scope="module")
def resources(settings):
    return load_resources(settings.paths.prompts_dir)


def doc(text: str) -> Document:
    return Document("test.txt", text, "txt")


def test_english_abbreviations_and_initials_do_not_end_sentences(resources) -> None:
    text = "Mr. S. Jaishankar met Dr. Lavrov in Moscow. They spoke for an hour! Was it useful? Yes."
    assert split_sentences(text, resources.languages["en"]) == [
        "Mr. S. Jaishankar met Dr. Lavrov in Moscow.",
        "They spoke for an hour!",
        "Was it useful?",
        "Yes.",
    ]


def test_hindi_danda_ends_sentences(resources) -> None:
    text = "भारत और रूस ने व्यापार पर चर्चा की। दोनों पक्ष सहमत हुए। क्या यह सही है? हाँ."
    assert split_sentences(text, resources.languages["hi"]) == [
        "भारत और रूस ने व्यापार पर चर्चा की।",
        "दोनों पक्ष सहमत हुए।",
        "क्या यह सही है?",
        "हाँ.",
    ]


def test_russian_abbreviations(resources) -> None:
    text = "Товарооборот в 2024 г. вырос до 65 млрд. долл. США. Это рекорд."
    sentences = split_sentences(text, resources.languages["ru"])
    assert sentences == ["Товарооборот в 2024 г. вырос до 65 млрд. долл. США.", "Это рекорд."]


def test_speaker_turns_and_questions(resources) -> None:
    text = (
        "Official Spokesperson: Good afternoon. Let me begin with the visit.\n"
        "Question: Will trade grow?\n"
        "Official Spokesperson: We expect so.\n\n"
        "प्रश्न: क्या व्यापार बढ़ेगा?\n"
        "Вопрос: Как вы оцениваете переговоры?\n"
        "Randhir Jaiswal: They were productive.\n"
        "He said: this is not a speaker label."
    )
    transcript = segment(doc(text), resources, LanguageSettings())
    turns = [(p.speaker, p.is_question) for p in transcript.paragraphs]
    assert turns[:6] == [
        ("Official Spokesperson", False),
        ("Question", True),
        ("Official Spokesperson", False),
        ("प्रश्न", True),
        ("Вопрос", True),
        ("Randhir Jaiswal", False),
    ]
    assert transcript.paragraphs[0].text == "Good afternoon. Let me begin with the visit."
    assert "He said: this is not a speaker label." in transcript.paragraphs[-1].text
    assert transcript.speakers[:2] == ("Official Spokesperson", "Question")


def test_mixed_transcript_is_read_paragraph_by_paragraph(resources) -> None:
    text = (
        "The minister spoke about trade and energy cooperation with Russia at length today.\n\n"
        "प्रश्न: भारत और रूस के बीच व्यापार कितना बढ़ा है?\n\n"
        "उत्तर: पिछले वर्ष व्यापार में काफी वृद्धि हुई है। हम संतुष्ट हैं।\n\n"
        "The minister then turned to connectivity and the transport corridor project."
    )
    transcript = segment(doc(text), resources, LanguageSettings())
    assert [p.language for p in transcript.paragraphs] == ["en", "hi", "hi", "en"]
    assert transcript.language == "en"
    assert {s.language for s in transcript.sentences} == {"en", "hi"}


def test_foreign_paragraphs_are_skipped_and_counted(resources) -> None:
    text = (
        "The minister spoke about trade and energy cooperation with Russia at length today.\n\n"
        "Les deux ministres ont discuté longuement du commerce, de l'énergie et de la réforme des "
        "institutions internationales.\n\n"
        "The minister then turned to connectivity and the transport corridor project."
    )
    transcript = segment(doc(text), resources, LanguageSettings())
    assert transcript.skipped_paragraphs == 1
    assert len(transcript.paragraphs) == 2


def test_whole_document_in_another_language(resources) -> None:
    text = "Die beiden Minister haben heute ausführlich über den Handel und die Energiepolitik gesprochen."
    with pytest.raises(UnsupportedLanguageError, match="unsupported language: de"):
        segment(doc(text), resources, LanguageSettings())


@hsettings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=400))
def test_segmentation_keeps_every_character_in_order(resources, text: str) -> None:
    try:
        transcript = segment(doc(text), resources, LanguageSettings())
    except DigestError:
        return
    kept = "".join(
        (p.speaker or "") + "".join(s.text for s in transcript.sentences if s.paragraph == p.index)
        for p in transcript.paragraphs
    )
    squash = re.compile(r"[\s:：]")
    if transcript.skipped_paragraphs == 0:
        assert squash.sub("", kept) == squash.sub("", text)
    for sentence in transcript.sentences:
        assert sentence.text.strip() == sentence.text and sentence.text


def test_a_short_first_line_without_a_full_stop_is_the_title(resources) -> None:
    titled = segment(
        doc("Press release on the visit\n\nThe minister visited Moscow. Talks were held."),
        resources,
        LanguageSettings(),
    )
    assert titled.title_sentence == 0
    assert titled.sentence(0).text == "Press release on the visit"
    untitled = segment(
        doc("The minister visited Moscow.\n\nTalks were held."), resources, LanguageSettings()
    )
    assert untitled.title_sentence is None


def test_the_title_is_the_headline_and_not_a_bullet(pipeline) -> None:
    text = (
        "Press release on the visit of the minister (sample)\n\n"
        "The minister discussed trade and exports with his counterpart. "
        "Energy supplies of oil and gas were reviewed."
    )
    digest = pipeline.run(doc(text), ["en"])["en"]
    assert digest.headline == "Press release on the visit of the minister"
    assert all(0 not in b.evidence for t in digest.topics for b in t.bullets)


def test_language_detection_calls_are_bounded(resources, monkeypatch) -> None:
    """Thousands of short Latin paragraphs: langdetect runs once per distinct paragraph and
    never past the bound, so a long Q&A transcript cannot make this step slow."""
    import models.text.language as language
    from digest import segment as segment_module

    calls: list[str] = []
    real = language._langdetect

    def counting(text: str) -> list:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(language, "_langdetect", counting)
    distinct = [f"Delegation number {i} discussed fisheries quotas with Norway." for i in range(900)]
    repeated = ["Fisheries quotas with Norway were discussed again."] * 500
    transcript = segment(doc("\n".join(distinct + repeated)), resources, LanguageSettings())
    assert transcript.language == "en"
    assert len(calls) <= segment_module._MAX_DETECTIONS
    assert calls.count(repeated[0]) <= 1


def _headline(pipeline, text: str) -> str:  # type: ignore[no-untyped-def]
    from digest.model import Document

    return pipeline.run(Document("t.txt", text, "txt"), ["en"])["en"].headline


BODY = (
    "SECRETARY BLINKEN:  The alliance agreed today to send air defence systems to Ukraine before "
    "the winter, and the first batteries will arrive within weeks.\n\n"
    "Q    Will there be more?\n\n"
    "SECRETARY BLINKEN:  We expect allies to announce further packages of support at the summit "
    "in Vilnius next month, including training for pilots."
)


def test_publisher_genre_byline_and_place_lines_are_no_headline(pipeline) -> None:  # type: ignore[no-untyped-def]
    for front in (
        "THE WHITE HOUSE\n\nOffice of Communications\n\n",
        "Special Briefing\n\nBrussels Media Hub\n\n",
        "Antony J. Blinken, Secretary of State\n\nNATO Headquarters\n\nBrussels, Belgium\n\n",
        "The People’s House\nSeoul, Republic of Korea\n\n",
    ):
        headline = _headline(pipeline, front + BODY)
        assert "air defence" in headline or "further packages" in headline, (front, headline)


def test_a_long_title_after_the_publisher_lines_is_the_headline(pipeline) -> None:  # type: ignore[no-untyped-def]
    text = (
        "THE WHITE HOUSE\n\nOffice of Communications\n\n"
        "REMARKS BY PRESIDENT BIDEN AND PRIME MINISTER MODI IN JOINT PRESS CONFERENCE\n\n" + BODY
    )
    assert _headline(pipeline, text).startswith("Remarks By President Biden")


def test_short_spoken_english_that_langdetect_calls_foreign_is_kept(pipeline) -> None:  # type: ignore[no-untyped-def]
    from digest.model import Document

    text = (
        "MS. JEAN-PIERRE:  The Senate passed the online safety bill for children today by a "
        "large margin, and the President will sign it.\n\n"
        "MS. JEAN-PIERRE:  You’ve got — you’ve got to let me answer the question, Peter.\n\n"
        "MODERATOR:  We’ll take questions now.  I see Frankfurter Allgemeine Zeitung (inaudible).\n\n"
        "QUESTION:  Thanks a lot.  Thomas Gutschker, Frankfurter Allgemeine Zeitung."
    )
    digest = pipeline.run(Document("t.txt", text, "txt"), ["en"])["en"]
    assert not digest.notices, digest.notices


def test_a_long_hindi_title_with_an_office_is_the_headline(pipeline) -> None:  # type: ignore[no-untyped-def]
    from digest.model import Document

    text = (
        "राष्ट्रपति की क्रोशिया, बोलीविया और चिली की आगामी यात्रा पर सचिव (पूर्व) द्वारा मीडिया "
        "ब्रीफिंग का प्रतिलेखन\n\n"
        "अधिकारिक प्रवक्ता : मेरे साथ यहां सचिव (पूर्व) हैं और दो संयुक्त सचिव हैं। "
        "राष्ट्रपति 25 से 28 मार्च तक क्रोशिया की यात्रा पर रहेंगे और वहां द्विपक्षीय वार्ता करेंगे।"
    )
    digest = pipeline.run(Document("t.txt", text, "txt"), ["hi"])["hi"]
    assert digest.headline.startswith("राष्ट्रपति की क्रोशिया")
    bullets = [b.text for t in digest.topics for b in t.bullets]
    assert not any(b.startswith("मेरे साथ") for b in bullets)
