import pytest

from digest.disfluency import clean_speech
from digest.model import Document
from digest.pipeline import Pipeline
from digest.remarks import without_openers


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("as we speak to escalation — poten- — potential escalation", "as we speak to escalation — potential escalation"),
        ("we do not believe — we do not believe that war is inevitable", "we do not believe that war is inevitable"),
        ("For — for example, last year", "For example, last year"),
        ("(As interpreted.)  A journalist from the U.S. asked", "A journalist from the U.S. asked"),
        ("the nature of that — of that library (Laughter.)", "the nature of that library"),
        ("This p- — past weekend we met", "This past weekend we met"),
        ("India — a partner — will host the summit", "India — a partner — will host the summit"),
        ("Additional — additionally, FEMA has issued grants", "Additionally, FEMA has issued grants"),
        ("This especially critical — this is especially critical", "This is especially critical"),
        ("The talks — the first in years — went well.", "The talks — the first in years — went well."),
        ("cheered on Team — Team USA.", "cheered on Team USA."),
    ],
)
def test_false_starts_repeats_and_stage_notes_are_dropped(spoken: str, written: str) -> None:
    assert clean_speech(spoken) == written


def test_long_hostile_dash_runs_stay_fast() -> None:
    # Bounded patterns: a 200,000-character run of words and dashes is cleaned at once.
    text = "to — " * 40_000 + "end"
    assert clean_speech(text).endswith("end")


MARKERS = ("in addition", "so", "again", "also", "также")


def test_openers_are_dropped_only_before_their_comma_in_latin_script() -> None:
    kept = "In addition to the work the Justice Department is doing, we act."
    assert without_openers(kept, MARKERS) == kept
    assert without_openers("So, again, I will not comment on that report.", MARKERS) == (
        "I will not comment on that report."
    )
    assert without_openers("Также Россия готова к переговорам.", MARKERS) == "Россия готова к переговорам."


def test_a_refusal_behind_fillers_is_no_bullet(pipeline: Pipeline) -> None:
    text = (
        "MS. JEAN-PIERRE:  The Senate passed the online safety bill for children today by a large margin. "
        "So, again, I’m not going to get into immediate comment on the strike. "
        "The bill sets a duty of care for platforms and protects the privacy of minors online."
    )
    digest = pipeline.run(Document("t.txt", text, "txt"), ["en"])["en"]
    bullets = [b.text for t in digest.topics for b in t.bullets] + [digest.headline]
    assert not any("not going to get into" in b for b in bullets)


def test_a_false_start_that_leaves_a_doubled_word_is_mended() -> None:
    assert clean_speech("So, I wo- — I would like to share some news") == (
        "So, I would like to share some news"
    )
    assert clean_speech("I think that that is right") == "I think that that is right"
    assert clean_speech("I think we recognize that, you know, we are stronger") == (
        "I think we recognize that, we are stronger"
    )
