"""Real transcript conventions: turn labels, stage lines, datelines, headings, hard wraps, and
what must never become a bullet or the headline."""

from __future__ import annotations

import pytest

from digest.model import Document, SentenceKind
from digest.pipeline import Pipeline
from digest.resources import Resources, load_resources
from digest.segment import segment
from settings import Settings


@pytest.fixture(scope="module")
def resources(settings: Settings) -> Resources:
    return load_resources(settings.paths.prompts_dir)


def _doc(text: str) -> Document:
    return Document("t.txt", text, "txt")


WHITE_HOUSE = """PRESS BRIEFING BY NSC COORDINATOR JOHN KIRBY ON SANCTIONS

Via Teleconference

12:42 P.M. EDT

MR. KIRBY:  Good afternoon, everybody.  Thanks for joining us.  The Treasury Department will announce new sanctions on Russian banks on Friday, including Gazprombank and its subsidiaries.  The export controls will cover semiconductors and machine tools that Moscow uses in its weapons plants.

Q    Thanks, John.  Will the sanctions on Russian oil purchases affect India?

MR. KIRBY:  Sure.  We expect India to keep buying Russian oil at or below the price cap, and the sanctions do not target Indian refiners that respect it.  Our next question will go to Nancy.

MODERATOR:  Thank you.  That concludes today's call.
"""


def test_white_house_labels_stage_lines_and_questions(
    pipeline: Pipeline, resources: Resources
) -> None:
    transcript = segment(_doc(WHITE_HOUSE), resources, pipeline.settings.language)
    texts = [s.text for s in transcript.sentences]
    # Stage directions and times are not part of what was said.
    assert not any("Teleconference" in t or "P.M. EDT" in t for t in texts)
    kinds = {s.text: s.kind for s in transcript.sentences}
    assert (
        kinds["Will the sanctions on Russian oil purchases affect India?"] is SentenceKind.QUESTION
    )
    assert kinds["Thanks, John."] is SentenceKind.QUESTION  # part of the reporter's turn
    assert kinds["Good afternoon, everybody."] is SentenceKind.PLEASANTRY
    assert kinds["Our next question will go to Nancy."] is SentenceKind.PLEASANTRY
    assert kinds["That concludes today's call."] is SentenceKind.PLEASANTRY  # the moderator
    assert transcript.sentence(transcript.title_sentence or 0).text.startswith("PRESS BRIEFING")

    digest = pipeline.run(_doc(WHITE_HOUSE), ["en"])["en"]
    bullets = [b for t in digest.topics for b in t.bullets]
    assert bullets and all(not b.text.endswith("?") for b in bullets)
    assert all(b.speaker == "Kirby" for b in bullets)
    assert digest.headline == "Press Briefing By Nsc Coordinator John Kirby On Sanctions"
    assert "sanctions" in {t.id for t in digest.topics}
    assert "Kirby" in [e.text for e in digest.entities if e.kind == "person"]


MEA_HINDI = """आधिकारिक प्रवक्ता द्वारा साप्ताहिक मीडिया ब्रीफिंग का प्रतिलेख (नवंबर 26, 2024)

नई दिल्ली, 26 नवंबर

श्री रणधीर जायसवाल, सरकारी प्रवक्ता: आप सभी को शुभ संध्या। इस सप्ताह की मीडिया ब्रीफिंग में आपका स्वागत है। विदेश मंत्री डॉ. एस. जयशंकर अगले सप्ताह रूस की यात्रा पर जाएंगे और वहाँ व्यापार और ऊर्जा सहयोग पर बातचीत करेंगे। भारत और रूस के बीच द्विपक्षीय व्यापार पिछले वर्ष 65 अरब डॉलर तक पहुँच गया।

सिद्धांत: सर, रूसी सेना में सेवारत भारतीयों की रिहाई पर क्या प्रगति हुई है?

श्री रणधीर जायसवाल, सरकारी प्रवक्ता: रूसी सेना में भर्ती किए गए 85 भारतीय नागरिक अब तक स्वदेश लौट चुके हैं। हम शेष भारतीयों की शीघ्र रिहाई के लिए रूसी पक्ष के साथ लगातार संपर्क में हैं। अगला प्रश्न।
"""


def test_mea_hindi_dateline_reporter_and_spokesperson(
    pipeline: Pipeline, resources: Resources
) -> None:
    transcript = segment(_doc(MEA_HINDI), resources, pipeline.settings.language)
    assert not any(s.text.startswith("नई दिल्ली, 26 नवंबर") for s in transcript.sentences)
    kinds = {s.text: s.kind for s in transcript.sentences}
    # A reporter named only by the label, asking: a question, though no label says so.
    assert kinds["सर, रूसी सेना में सेवारत भारतीयों की रिहाई पर क्या प्रगति हुई है?"] is SentenceKind.QUESTION
    assert kinds["आप सभी को शुभ संध्या।"] is SentenceKind.PLEASANTRY
    assert kinds["इस सप्ताह की मीडिया ब्रीफिंग में आपका स्वागत है।"] is SentenceKind.PLEASANTRY

    digest = pipeline.run(_doc(MEA_HINDI), ["hi", "en"])
    hindi = digest["hi"]
    assert hindi.headline.startswith("आधिकारिक प्रवक्ता द्वारा साप्ताहिक मीडिया ब्रीफिंग")
    assert "नवंबर" not in hindi.headline  # the trailing date note is dropped
    bullets = [b for t in hindi.topics for b in t.bullets]
    assert bullets and not any("स्वागत" in b.text or b.text.endswith("?") for b in bullets)
    assert {b.speaker for b in bullets} == {"जायसवाल"}
    # The same speaker, named as the glossary writes him for an English reader.
    assert {b.speaker for t in digest["en"].topics for b in t.bullets} == {"Jaiswal"}
    people = [e.text for e in hindi.entities if e.kind == "person"]
    assert "रणधीर जायसवाल" in people and "एस. जयशंकर" in people


MFA_RUSSIAN = """Брифинг официального представителя МИД России М.В.Захаровой, Москва, 12 марта 2025 года

Уважаемые дамы и господа,

Об антироссийских санкциях Евросоюза

Евросоюз утвердил шестнадцатый пакет ограничительных мер. В списки внесены ещё 48 физических лиц и 35 организаций. Мы ответим на эти шаги, как делали это и раньше.

Вопрос (перевод с английского): Как вы оцениваете переговоры в Джидде 11 марта с.г.?

М.В.Захарова: Мы видели сообщения о контактах американской и украинской делегаций в Джидде 11 марта с.г. Не будем забегать вперёд, позиция России по урегулированию хорошо известна.
"""


def test_mfa_russian_heading_salutation_and_labels(
    pipeline: Pipeline, resources: Resources
) -> None:
    transcript = segment(_doc(MFA_RUSSIAN), resources, pipeline.settings.language)
    kinds = {s.text: s.kind for s in transcript.sentences}
    assert kinds["Уважаемые дамы и господа,"] is SentenceKind.PLEASANTRY
    assert kinds["Об антироссийских санкциях Евросоюза"] is SentenceKind.HEADING
    assert kinds["Как вы оцениваете переговоры в Джидде 11 марта с.г.?"] is SentenceKind.QUESTION
    # razdel ends the sentence after "с.г." here; the abbreviation does not glue two together.
    assert any(s.text.startswith("Не будем забегать вперёд") for s in transcript.sentences)

    digest = pipeline.run(_doc(MFA_RUSSIAN), ["ru"])["ru"]
    topics = {t.id: t for t in digest.topics}
    # The heading names the section's topic: the packages of measures are sanctions, even
    # where a sentence says only "ограничительных мер" or "физических лиц".
    assert "sanctions" in topics and "consular" not in topics
    assert digest.headline != "Уважаемые дамы и господа,"
    assert "Захарова" in {b.speaker for t in digest.topics for b in t.bullets}


def test_hard_wrapped_lines_are_joined_into_sentences(
    resources: Resources, settings: Settings
) -> None:
    paragraph = (
        "The United States and India agreed today to expand cooperation on critical and "
        "emerging technologies, including semiconductors, quantum computing and space, and "
        "the two sides will meet again in New Delhi next month to sign the agreement. "
        "Officials said the talks were constructive and that both governments want the "
        "partnership to deliver results for their people before the end of the year."
    )
    import textwrap

    wrapped = (
        "\n".join(textwrap.wrap(paragraph, 72))
        + "\n\n"
        + "\n".join(textwrap.wrap(paragraph.replace("United States", "European Union"), 72))
    )
    transcript = segment(_doc(wrapped), resources, settings.language)
    assert len(transcript.paragraphs) == 2
    assert [s.text for s in transcript.sentences[:2]] == [
        paragraph.split(". ")[0] + ".",
        paragraph.split(". ")[1],
    ]


def test_abbreviations_inside_names_do_not_break_sentences(pipeline: Pipeline) -> None:
    text = (
        "We welcomed the launch of the India-U.S. TRUST initiative in Washington, D.C. on "
        "Monday with Mr. S. Jaishankar. The U.S. and the U.K. will review it next year."
    )
    digest = pipeline.run(_doc(text), ["en"])["en"]
    bullets = [b.text for t in digest.topics for b in t.bullets] + [digest.headline]
    assert any(b.startswith("We welcomed the launch of the India-U.S. TRUST") for b in bullets)
    assert not any(b.endswith(("U.S.", "D.C.", "Mr.")) for b in bullets)


def test_emergent_topics_are_named_by_content_words_and_at_most_two(pipeline: Pipeline) -> None:
    text = "\n\n".join(
        [
            "Thank you. We're here to speak about many things today, thank you all.",
            "The chess championship in Goa will bring grandmasters from forty nations.",
            "The chess championship opens on Monday and the chess federation is ready.",
            "Tickets for the chess championship are sold out in every hall of the venue.",
            "The film festival in Kolkata will screen films from thirty nations.",
            "The film festival has a jury of directors and the film prize is large.",
            "Critics expect the film festival to show many films by young directors.",
            "The marathon in Pune drew runners, and the marathon route crosses the river.",
            "The marathon organisers said the marathon will be held again next year.",
        ]
    )
    analysis = pipeline.analyse(_doc(text))
    emergent = [g for g in analysis.groups if g.id.startswith("emergent")]
    assert 1 <= len(emergent) <= 2
    names = [g.keywords[0] for g in emergent]
    weak = {"thank", "speak", "we're", "we’re", "today", "things"}
    assert all(not set(name.lower().split()) & weak for name in names)
    assert any(word in " ".join(names) for word in ("chess", "film", "marathon"))


def test_a_long_title_line_is_the_headline_and_no_bullet(pipeline: Pipeline) -> None:
    title = (
        "Joint press briefing after the talks of the foreign ministers of India and Russia "
        "in Moscow (illustrative text)"
    )
    body = (
        "The two foreign ministers held talks in Moscow today to prepare the annual summit.\n\n"
        "They agreed to expand trade in national currencies and to cut non-tariff barriers."
    )
    digest = pipeline.run(_doc(f"{title}\n\n{body}"), ["en"])["en"]
    assert digest.headline == title.replace(" (illustrative text)", "")
    assert not any(
        b.text.startswith("Joint press briefing") for t in digest.topics for b in t.bullets
    )


def test_a_text_of_only_questions_and_greetings_is_refused_in_one_line(
    pipeline: Pipeline,
) -> None:
    from digest.errors import NothingToDigestError

    with pytest.raises(NothingToDigestError, match=r"^q\.txt: nothing to digest: "):
        pipeline.run(Document("q.txt", "Q    What about trade?\n\nThank you.", "txt"), ["en"])


def test_a_sentence_with_a_colon_is_no_speaker_label() -> None:
    from digest.conventions import speaker_label
    from digest.resources import load_resources
    from settings.loader import load_settings

    specs = load_resources(load_settings().paths.prompts_dir).languages.values()
    assert (
        speaker_label("As the president said today in his statement: Our children", specs) is None
    )
    assert speaker_label("And, Mr. President, I wanted to ask you: Today the", specs) is None
    assert speaker_label("Как сказал президент: мы готовы", specs) is None
    label = speaker_label("SECRETARY BLINKEN:  Thank you.", specs)
    assert label is not None and label.text == "SECRETARY BLINKEN"


def test_reporters_introducing_themselves_and_floor_steering_are_pleasantries() -> None:
    from digest.remarks import is_pleasantry
    from digest.resources import load_resources
    from settings.loader import load_settings

    languages = load_resources(load_settings().paths.prompts_dir).languages
    en, hi = languages["en"], languages["hi"]
    for said in (
        "Sir, I am Huma Siddiqui from the Financial Express.",
        "Samira Hussain from BBC News.",
        "Let me address that question.",
        "Oh, was there another question, I think.",
    ):
        assert is_pleasantry(said, en), said
    for said in (
        "The delegation from India arrived in Moscow yesterday for talks.",
        "We received 3 million dollars from the World Bank.",
    ):
        assert not is_pleasantry(said, en), said
    assert is_pleasantry("महोदय, अब आप शुरु कीजिए।", hi)


def test_having_nothing_to_add_and_closing_the_briefing_are_procedure() -> None:
    from digest.remarks import is_pleasantry
    from digest.resources import load_resources
    from settings.loader import load_settings

    languages = load_resources(load_settings().paths.prompts_dir).languages
    hi, ru = languages["hi"], languages["ru"]
    for said in (
        "इससे अधिक मैं कुछ नहीं जोड़ूँगा।",
        "ठीक है, अगर अब कोई प्रश्न नहीं है तो हम यहीं समाप्त करते हैं।",
        "मेरे पास इस पर जोड़ने के लिए कुछ नहीं है।",
    ):
        assert is_pleasantry(said, hi), said
    for said in (
        "Мне нечего добавить к сказанному.",
        "Больше ничего не могу добавить.",
        "Как я понимаю, Вы меня не слушаете.",
    ):
        assert is_pleasantry(said, ru), said
    en = languages["en"]
    assert is_pleasantry("I think you’re not listening.", en)
    assert is_pleasantry("And let me stop there.", en)
    assert is_pleasantry("На этом остановлюсь.", ru)
    assert is_pleasantry("मैं यहीं रुकता हूँ।", hi)
    assert not is_pleasantry(
        "Вы не слушаете голос Глобального Юга, который требует реформы Совета Безопасности.", ru
    )
    # A statement that merely contains the words is one.
    assert not is_pleasantry("भारत ने इससे अधिक कुछ नहीं कहा कि व्यापार बढ़ेगा और निवेश भी।", hi)
    assert not is_pleasantry("Россия готова добавить новые маршруты поставок в Индию.", ru)


def test_a_sentence_broken_off_at_a_comma_or_colon_is_a_fragment(resources: Resources) -> None:
    from digest.remarks import classify

    languages = resources.languages
    ru, en = languages["ru"], languages["en"]
    broken = "Я имею в виду даже не русский мир, который мы всячески опекаем,"
    assert classify(broken, ru) is SentenceKind.FRAGMENT
    assert classify("We agreed on the following points with our partners:", en) is (
        SentenceKind.FRAGMENT
    )
    assert classify("We agreed on the following points with our partners.", en) is (
        SentenceKind.STATEMENT
    )
