"""What a sentence does: a statement, or a question, pleasantry, heading or fragment.

Only statements become bullets or headlines. Questions still steer the topic of the answer
that follows them (digest/topics.py).
"""

from __future__ import annotations

from digest.model import SentenceKind
from digest.resources import LanguageSpec
from models.text import words

# Fewer words than this inform nobody ("Great.", "That is right.").
MIN_STATEMENT_WORDS = 5
_CLOSING_QUOTES = "\"'»”’)]"


def classify(
    text: str,
    spec: LanguageSpec,
    *,
    question_turn: bool = False,
    moderator_turn: bool = False,
    heading: bool = False,
) -> SentenceKind:
    if heading:
        return SentenceKind.HEADING
    if question_turn or is_question(text):
        return SentenceKind.QUESTION
    if moderator_turn or is_pleasantry(text, spec):
        return SentenceKind.PLEASANTRY
    if len(words(text)) < MIN_STATEMENT_WORDS or is_unfinished(text):
        return SentenceKind.FRAGMENT
    return SentenceKind.STATEMENT


def is_unfinished(text: str) -> bool:
    """A sentence that stops on a comma, colon or dash: the page broke it off ("... the
    Russian world, which we look after,") or it announces what follows ("We agreed on this:")."""
    return text.rstrip().endswith(_UNFINISHED)


_UNFINISHED = (",", ";", ":", "—", "–", " -")


def is_question(text: str) -> bool:
    return text.rstrip().rstrip(_CLOSING_QUOTES).endswith(("?", "？"))


def is_pleasantry(text: str, spec: LanguageSpec) -> bool:
    pattern = spec.pleasantries
    # The patterns write the apostrophe plain; transcripts often use the typographic one.
    text = without_openers(text.strip(), spec.discourse_markers).lower().replace("’", "'")
    return pattern is not None and pattern.match(text) is not None


def without_openers(text: str, markers: tuple[str, ...]) -> str:
    """``text`` without the linking words and fillers that open it ("So, again, I ..." ->
    "I ..."); unchanged when fewer than four words would be left."""
    stripped = text
    while True:
        rest = _after_marker(stripped, markers)
        if rest is None or len(rest.split()) < 4:
            break
        stripped = rest
    return stripped[:1].upper() + stripped[1:] if stripped is not text else text


def _after_marker(text: str, markers: tuple[str, ...]) -> str | None:
    lowered = text.lower()
    for marker in markers:
        if not lowered.startswith(marker):
            continue
        after = text[len(marker) : len(marker) + 1]
        # Latin-script markers need their comma: "In addition to the work" keeps its opening.
        if after == "," or (after == " " and not marker.isascii()):
            return text[len(marker) :].lstrip(" ,")
    return None
