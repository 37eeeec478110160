"""Spoken-transcript noise that no reader wants in a bullet: false starts, words repeated
across a dash, and stage notes in brackets.

White House and State Department transcripts keep them verbatim: "poten- — potential",
"we do not believe — we do not believe that", "(As interpreted.)", "(Laughter.)". The
patterns are bounded (a few words at most), so they stay linear on any input.
"""

from __future__ import annotations

import re

_WORD = r"[^\W\d_][\w’']*"
# A word broken off with a hyphen, then a dash: "poten- — potential", "Minist- —".
_CUT_OFF = re.compile(rf"(?<![\w-]){_WORD}-\s+[—–]+\s*")
# One to four words said twice across a dash: "to — to", "LBJ — LBJ Library".
_REPEAT = re.compile(rf"\b((?:{_WORD}\s+){{0,3}}{_WORD})\s+[—–]+\s+\1\b", re.IGNORECASE)
# A restart: up to four words, a dash, then the same first word again ("This especially
# critical — this is especially critical", "Additional — additionally", "Team — Team USA").
_RESTART = re.compile(
    rf"\b(?P<first>{_WORD})(?P<rest>(?:\s+{_WORD}){{0,3}})\s+[—–]+\s+"
    rf"(?P<again>(?P=first)\w*(?:\s+{_WORD}){{0,4}})",
    re.IGNORECASE,
)
_DOUBLE_DASH = re.compile(r"([—–])(?:\s*[—–])+")
# A note in brackets: capitalised, up to five words, closed by a period ("(Laughter.)",
# "(As interpreted.)"), or a known lower-case note ("(inaudible)").
_STAGE_NOTE = re.compile(
    r"\s*[(\[](?:[A-Z][a-z]+(?:\s+[a-z]+){0,4}\.|inaudible|crosstalk|cross-talk|off[- ]mic"
    r"|indiscernible|audio (?:drops|cuts out)|[a-z ]{0,30}\bsneezes)[)\]]"
)
# A short word said twice: "So, I I would like". Not "that that", which can be grammar.
_STUTTER = re.compile(
    r"\b(I|we|you|they|he|she|it|the|a|an|to|and|of|in|on|is|was|are)\s+\1\b", re.IGNORECASE
)
# "we are stronger, you know, if": a filler between commas.
_FILLER = re.compile(r",\s+(?:you know|I mean|kind of|sort of),\s+")
_SPACES = re.compile(r"[ \t]{2,}")


def _restart(match: re.Match[str]) -> str:
    """Drop a false start when the words after the dash say it again: one word ("Team —
    Team USA"), or its first word and another of its words ("This especially critical —
    this is especially critical"); "The talks — the first in years —" is an aside."""
    said = match["rest"].lower().split()
    again = match["again"]
    if said and not set(said) & set(again.lower().split()[1:]):
        return match[0]
    # The sentence keeps the capital its false start had.
    return again[:1].upper() + again[1:] if match[0][:1].isupper() else again


def clean_speech(text: str) -> str:
    """``text`` without false starts, repetitions, fillers and stage notes."""
    if "—" in text or "–" in text or "(" in text or "[" in text:
        text = _STAGE_NOTE.sub("", text)
        text = _CUT_OFF.sub("", text)  # "I wo- — I would" -> "I I would", for the next step
        text = _REPEAT.sub(r"\1", text)
        text = _RESTART.sub(_restart, text)
        text = _DOUBLE_DASH.sub(r"\1", text)
        text = _SPACES.sub(" ", text).strip()
    return _FILLER.sub(", ", _STUTTER.sub(r"\1", text))
