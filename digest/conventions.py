"""Transcript conventions: speaker labels, stage directions, datelines, headings, hard wraps.

Real transcripts mark turns in many ways (`Q`, `MR. KIRBY:`, `MODERATOR:`,
`Official Spokesperson, Shri Randhir Jaiswal:`, `प्रश्न:`, `Вопрос (перевод с английского):`),
carry lines that are not text at all (`Via Teleconference`, `12:42 P.M. EDT`,
`नई दिल्ली, 26 नवंबर`), and are sometimes wrapped at a fixed width. The words that tell
these apart are data in prompts/language.toml.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.resources import LanguageSpec

_LABEL = re.compile(
    r"^(?P<label>[^\W\d_][^\n:：\"“”«»?!]{0,80}?)\s*[:：](?:\s+|$)(?P<rest>.*)$", re.S
)
# White House style: a bare "Q" (or "Q." / "Q:") then spaces and the question.
_BARE_Q = re.compile(r"^Q[.:]?(?:\s+(?P<rest>.*))?$", re.S)
_PARENTHESES = re.compile(r"\s*[(\[][^)\]]*[)\]]\s*")
_LABEL_MAX_WORDS = 8
_HEADING_MAX_WORDS = 14
_DATELINE_MAX_OTHER_WORDS = 3
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
# A wrapped line fills at least this share of the wrap width.
_WRAP_FILL = 0.72
_WRAP_MIN_WIDTH = 40
_WRAP_MAX_WIDTH = 100
_TERMINAL = ".!?।॥…:;"


class Role(enum.Enum):
    """Who holds the floor in a turn."""

    QUESTION = "question"  # a reporter, or a label that says "question"
    MODERATOR = "moderator"  # runs the briefing, says nothing of substance
    OFFICIAL = "official"  # a label with an office in it, or an answer label
    NAMED = "named"  # a person's name alone: official or reporter, decided by the turn


@dataclass(frozen=True, slots=True)
class Label:
    text: str
    role: Role
    rest: str


class LineKind(enum.Enum):
    TEXT = "text"
    STAGE = "stage"  # stage direction, dateline, time, place of the briefing: dropped


def speaker_label(line: str, specs: Iterable[LanguageSpec]) -> Label | None:
    """The turn label at the start of ``line``, if it has one."""
    specs = tuple(specs)
    bare = _BARE_Q.match(line)
    if bare:
        return Label("Q", Role.QUESTION, (bare["rest"] or "").strip())
    match = _LABEL.match(line)
    if not match:
        return None
    label = match["label"].strip()
    rest = match["rest"].strip()
    key = label_key(label)
    if _sentence_words(key, specs):
        return None  # "As the president said in his statement: ..." is no label
    if any(key in spec.question_labels for spec in specs):
        return Label(label, Role.QUESTION, rest)
    if any(key in spec.moderator_labels for spec in specs):
        return Label(label, Role.MODERATOR, rest)
    if any(key in spec.answer_labels for spec in specs) or has_office(key, specs):
        return Label(label, Role.OFFICIAL, rest) if _looks_like_label(label) else None
    if _looks_like_name(label):
        return Label(label, Role.NAMED, rest)
    return None


def label_key(label: str) -> str:
    """ "Вопрос (перевод с английского)" -> "вопрос"; "MR. KIRBY" -> "mr. kirby"."""
    return without_parentheses(label).lower().rstrip(".").strip()


def _sentence_words(key: str, specs: Sequence[LanguageSpec]) -> bool:
    tokens = set(re.split(r"[^\w\u0900-\u097F]+", key))
    return any(tokens & spec.not_in_labels for spec in specs)


def has_office(text: str, specs: Sequence[LanguageSpec]) -> bool:
    """A word of ``text`` names an office ("Secretary of State", "Official Spokesperson")."""
    tokens = set(re.split(r"[\s,]+", text.lower()))
    return any(tokens & spec.official_words for spec in specs)


def without_parentheses(text: str) -> str:
    """"Вопрос (перевод с английского)" -> "Вопрос": notes in brackets are no part of a label."""
    return _PARENTHESES.sub(" ", text).strip()


def _label_words(label: str) -> list[str]:
    return without_parentheses(label).replace(",", " ").split()


def _looks_like_label(label: str) -> bool:
    words = _label_words(label)
    return 0 < len(words) <= _LABEL_MAX_WORDS and not any(ch.isdigit() for ch in label)


def _looks_like_name(label: str) -> bool:
    if not _looks_like_label(label):
        return False
    words = _label_words(label)
    cased = [w for w in words if w[0].isalpha() and (w[0].isupper() or w[0].islower())]
    if not cased:
        # Devanagari has no capitals: accept short labels.
        return len(words) <= 3
    if not words[0][0].isupper():
        return False
    # Short lower-case particles are allowed inside titles ("Minister of State").
    return all(w[0].isupper() or len(w) <= 3 for w in cased)


def line_kind(line: str, spec: LanguageSpec) -> LineKind:
    """Stage directions and datelines are not part of what was said."""
    lowered = line.strip().lower()
    if not lowered:
        return LineKind.TEXT
    if spec.stage_directions is not None and spec.stage_directions.match(lowered):
        return LineKind.STAGE
    if _is_dateline(lowered, spec) or _is_time_line(lowered):
        return LineKind.STAGE
    return LineKind.TEXT


def _is_dateline(lowered: str, spec: LanguageSpec) -> bool:
    """ "Moscow, May 15, 2024", "नई दिल्ली, 26 नवंबर", "जुलाई 08, 2021": a date and at most a
    place; a title that contains a date has more words than that."""
    if lowered[-1:] in "?!":
        return False
    tokens = [t.strip(".,;:()[]") for t in lowered.split()]
    tokens = [t for t in tokens if t]
    has_month = any(t.rstrip(".") in spec.months for t in tokens)
    has_number = any(ch.isdigit() for ch in lowered)
    if not (has_month and has_number):
        return False
    other = [t for t in tokens if t.rstrip(".") not in spec.months and not t[0].isdigit()]
    return len(other) <= _DATELINE_MAX_OTHER_WORDS


def _is_time_line(lowered: str) -> bool:
    """ "12:42 P.M. EDT", "10:03 A.M. MSK": a time and a few short words."""
    if not _TIME.search(lowered):
        return False
    rest = _TIME.sub(" ", lowered)
    return len(rest.split()) <= 3 and all(len(w) <= 5 for w in rest.split())


def is_heading(text: str, max_words: int = _HEADING_MAX_WORDS) -> bool:
    """A short line without closing punctuation, between paragraphs: a subheading (or, as
    the first line, a title, which may be longer)."""
    stripped = text.strip()
    if not stripped or stripped[-1] in _TERMINAL + ",":
        return False
    words = stripped.split()
    return 0 < len(words) <= max_words and stripped[0].isalpha()


def unwrap(lines: list[str], specs: Iterable[LanguageSpec]) -> list[str]:
    """Join lines of text wrapped at a fixed width back into paragraphs.

    A wrapped text has most of its non-empty lines close to one width. In it, a line ends its
    paragraph only when it is clearly short, ends a sentence, or the next line opens a turn.
    """
    specs = tuple(specs)
    width = _wrap_width(lines)
    if width is None:
        return lines
    out: list[str] = []
    current = ""
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if current:
                out.append(current)
                current = ""
            out.append("")
            continue
        stage = any(line_kind(stripped, spec) is LineKind.STAGE for spec in specs)
        if stage:
            # "Via Teleconference" under a heading is a line of its own, never a continuation.
            if current:
                out.append(current)
                current = ""
            out.append(stripped)
            continue
        if current and speaker_label(stripped, specs) is None:
            current = f"{current} {stripped}"
        else:
            if current:
                out.append(current)
            current = stripped
        if len(line.rstrip()) < _WRAP_FILL * width and stripped[-1] in _TERMINAL:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def _wrap_width(lines: list[str]) -> int | None:
    lengths = sorted(len(line.rstrip()) for line in lines if line.strip())
    if len(lengths) < 8:
        return None
    width = lengths[int(len(lengths) * 0.9)]
    if not _WRAP_MIN_WIDTH <= width <= _WRAP_MAX_WIDTH:
        return None
    full = sum(1 for n in lengths if _WRAP_FILL * width <= n <= width + 2)
    # Most lines near the width, and few blank lines between them: a hard-wrapped text.
    return width if full >= 0.6 * len(lengths) else None
