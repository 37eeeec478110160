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
    if len(words(text)) < MIN_STATEMENT_WORDS:
        return SentenceKind.FRAGMENT
    return SentenceKind.STATEMENT


def is_question(text: str) -> bool:
    return text.rstrip().rstrip(_CLOSING_QUOTES).endswith(("?", "？"))


def is_pleasantry(text: str, spec: LanguageSpec) -> bool:
    pattern = spec.pleasantries
    # The patterns write the apostrophe plain; transcripts often use the typographic one.
    text = text.strip().lower().replace("’", "'")
    return pattern is not None and pattern.match(text) is not None
