"""The LLM answer parser and validator, on written-out model answers (no model needed)."""

from __future__ import annotations

import json

import pytest

from models.engines.llm_output import (
    OutputError,
    attribute,
    check_digest,
    extract_json,
    in_language,
    parse_digest,
    script_share,
)

KNOWN = {"trade": "Trade & economy", "energy": "Energy", "science_tech": "Science & technology"}
IDS = set(range(10))

EN_ANSWER = """\
{"headline": "India and Russia review trade and energy ties",
 "topics": [
   {"id": "trade", "bullets": [
      {"text": "Bilateral trade grew, but India wants its exports to rise.", "evidence": [2, 3]},
      {"text": "Payments in national currencies were discussed.", "evidence": [4]}]},
   {"id": "energy", "bullets": [
      {"text": "Oil supplies and the Kudankulam plant were reviewed.", "evidence": [6]}]}],
 "entities": ["Sergey Lavrov", {"text": "Moscow", "kind": "place"}]}
"""
RU_ANSWER = json.dumps(
    {
        "headline": "Россия и Индия обсудили торговлю и энергетику",
        "topics": [
            {
                "id": "trade",
                "bullets": [{"text": "Товарооборот растёт, но есть дисбаланс.", "evidence": [1]}],
            },
            {
                "id": "energy",
                "bullets": [
                    {"text": "Обсуждены поставки нефти и АЭС «Куданкулам».", "evidence": [5, 6]}
                ],
            },
        ],
    },
    ensure_ascii=False,
)
HI_ANSWER = json.dumps(
    {
        "headline": "भारत और रूस ने व्यापार और ऊर्जा पर चर्चा की",
        "topics": [
            # Latin acronyms inside Hindi text are fine.
            {
                "id": "trade",
                "bullets": [
                    {
                        "text": "भारत ने BRICS और SCO में समन्वय तथा व्यापार घाटे पर बात की।",
                        "evidence": ["[3]", "4"],
                    }
                ],
            },
        ],
    },
    ensure_ascii=False,
)


def check(data: object, language: str = "en", **kwargs: object):
    return check_digest(data, language=language, sentence_ids=IDS, known_topics=KNOWN, **kwargs)


# -- extraction -------------------------------------------------------------------------------
def test_plain_fenced_and_prose_wrapped_answers_all_parse() -> None:
    plain = extract_json(EN_ANSWER)
    fenced = extract_json(f"Here is the digest:\n```json\n{EN_ANSWER}```\nHope this helps!")
    prose = extract_json(f"Sure. {EN_ANSWER} That is all.")
    unclosed_fence = extract_json(f"```json\n{EN_ANSWER}")
    assert plain == fenced == prose == unclosed_fence
    assert plain["topics"][0]["id"] == "trade"


def test_braces_inside_strings_and_a_trailing_comma_are_tolerated() -> None:
    text = '{"headline": "Talks on {fees} and \\"visas\\"", "topics": [{"id": "trade", "bullets": [],},],}'
    data = extract_json(text)
    assert data["headline"] == 'Talks on {fees} and "visas"'


def test_the_digest_object_is_preferred_to_an_earlier_one() -> None:
    data = extract_json('Format: {"id": "x"}\n' + EN_ANSWER)
    assert "topics" in data


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("I cannot summarise this briefing.", "no JSON object"),
        (EN_ANSWER[: len(EN_ANSWER) // 2], "incomplete"),
    ],
)
def test_answers_without_a_usable_object_are_rejected(text: str, needle: str) -> None:
    with pytest.raises(OutputError, match=needle):
        extract_json(text)


# -- validation: accepted -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "language"), [(EN_ANSWER, "en"), (RU_ANSWER, "ru"), (HI_ANSWER, "hi")]
)
def test_well_formed_digests_are_accepted(answer: str, language: str) -> None:
    digest = parse_digest(answer, language=language, sentence_ids=IDS, known_topics=KNOWN)
    assert digest.headline
    assert digest.topics[0].id == "trade"
    assert not digest.dropped
    assert all(b.evidence for t in digest.topics for b in t.bullets)


def test_evidence_strings_entities_and_headline_objects_are_read() -> None:
    hi = parse_digest(HI_ANSWER, language="hi", sentence_ids=IDS, known_topics=KNOWN)
    assert hi.topics[0].bullets[0].evidence == (3, 4)
    en = parse_digest(EN_ANSWER, language="en", sentence_ids=IDS, known_topics=KNOWN)
    assert en.entities == ("Sergey Lavrov", "Moscow")
    data = json.loads(EN_ANSWER) | {
        "headline": {"text": "Trade talks in Moscow", "evidence": [2, 99]}
    }
    assert check(data).headline_evidence == (2,)


def test_titles_new_ids_duplicates_and_extra_bullets() -> None:
    data = {
        "headline": "Talks",
        "topics": [
            {
                "id": "Trade & Economy",
                "bullets": [{"text": "First point on trade.", "evidence": [1]}],
            },
            {
                "id": "trade",
                "bullets": [{"text": f"Point {n} on trade.", "evidence": [n]} for n in (2, 3, 4)],
            },
            {"id": "climate", "bullets": [{"text": "A new subject.", "evidence": [5]}]},
        ],
    }
    digest = check(data, max_points=3)
    assert [t.id for t in digest.topics] == ["trade", "climate"]
    assert [b.evidence for b in digest.topics[0].bullets] == [(1,), (2,), (3,)]


# -- validation: rejected -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"topics": []}, 'missing field "headline"'),
        ({"headline": "Talks"}, 'missing field "topics"'),
        ({"headline": "Talks", "topics": {}}, '"topics" must be a list'),
        ({"headline": "Talks", "topics": [{"bullets": []}]}, 'missing field "id"'),
        ({"headline": "Talks", "topics": [{"id": "trade"}]}, 'missing field "bullets"'),
        (
            {"headline": "Talks", "topics": [{"id": "trade", "bullets": [{"evidence": [1]}]}]},
            'missing field "text"',
        ),
        (
            {
                "headline": "Talks",
                "topics": [{"id": "trade", "bullets": [{"text": "Trade grew."}]}],
            },
            'missing field "evidence"',
        ),
        (
            {"headline": "Talks", "topics": [{"id": "trade", "bullets": ["Trade grew."]}]},
            "must be an object",
        ),
        ({"headline": "", "topics": []}, "non-empty string"),
        (
            {"headline": "Talks", "topics": [{"id": "Some Topic!", "bullets": []}]},
            "not one of the listed topic ids",
        ),
        (["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_missing_or_mistyped_fields_are_rejected(data: object, needle: str) -> None:
    with pytest.raises(OutputError, match=needle):
        check(data)


def test_bullets_citing_unknown_sentences_are_dropped() -> None:
    data = json.loads(EN_ANSWER)
    data["topics"][0]["bullets"][0]["evidence"] = [2, 42]
    data["topics"][0]["bullets"][1]["evidence"] = []
    digest = check(data)
    assert [b.text for t in digest.topics for b in t.bullets] == [
        "Oil supplies and the Kudankulam plant were reviewed."
    ]
    assert any("42" in line and "do not exist" in line for line in digest.dropped)
    assert any("cites no sentence" in line for line in digest.dropped)


def test_an_answer_citing_only_unknown_sentences_is_rejected() -> None:
    data = json.loads(EN_ANSWER)
    for topic in data["topics"]:
        for bullet in topic["bullets"]:
            bullet["evidence"] = [100 + len(bullet["text"])]
    with pytest.raises(OutputError, match="no usable bullet") as caught:
        check(data)
    assert "do not exist" in str(caught.value)


def test_wrong_language_is_rejected() -> None:
    # An English digest where Russian was asked for: headline and every bullet wrong.
    with pytest.raises(OutputError, match=r"headline.*Russian") as caught:
        parse_digest(EN_ANSWER, language="ru", sentence_ids=IDS, known_topics=KNOWN)
    assert "Cyrillic" in str(caught.value)
    # Russian answer, Hindi asked for.
    with pytest.raises(OutputError, match="Hindi"):
        parse_digest(RU_ANSWER, language="hi", sentence_ids=IDS, known_topics=KNOWN)


def test_a_single_bullet_in_the_wrong_language_is_dropped() -> None:
    data = json.loads(RU_ANSWER)
    data["topics"][1]["bullets"].append({"text": "Oil supplies were discussed.", "evidence": [5]})
    digest = check(data, language="ru")
    assert digest.bullet_count() == 2
    assert any("not written in Russian" in line for line in digest.dropped)


def test_error_messages_are_short_enough_for_a_retry_prompt() -> None:
    data = {
        "headline": "Talks",
        "topics": [{"id": f"Bad Id {n}", "bullets": []} for n in range(20)],
    }
    with pytest.raises(OutputError) as caught:
        check(data)
    assert len(caught.value.problems) == 20
    assert "and 14 more problems" in str(caught.value)


# -- scripts and attribution --------------------------------------------------------------------
def test_script_share() -> None:
    assert script_share("Trade grew by 12%.", "en") == 1.0
    assert script_share("Товарооборот вырос на 12%.", "ru") == 1.0
    assert script_share("व्यापार बढ़ा।", "hi") == 1.0
    assert script_share("12 — 15", "en") == 0.0
    assert in_language("Лавров встретился с S. Jaishankar в Москве", "ru")
    assert not in_language("Lavrov met Jaishankar in Moscow", "ru")
    assert not in_language("व्यापार", "en")


def test_attribute_picks_the_sentences_sharing_most_words() -> None:
    candidates = {
        1: "Trade between India and Russia grew.",
        2: "Oil supplies rose.",
        3: "Visa rules eased.",
    }
    assert attribute("India Russia trade grew strongly", candidates) == (1,)
    assert attribute("Nothing in common here", candidates) == ()
