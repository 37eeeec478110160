"""Key people, places and organisations: glossary names first, then repeated proper names."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

from digest.model import Entity, EntityKind, Transcript
from digest.resources import GlossaryEntry, Resources

_PROPER = re.compile(
    r"\b[A-ZА-ЯЁ][\w’'\-]+(?:\s+(?:[A-ZА-ЯЁ][\w’'\-]+|of|the|for|и))*\s+[A-ZА-ЯЁ][\w’'\-]+"
)
_ORGANISATION_WORDS = frozenset(
    [
        "ministry",
        "council",
        "union",
        "corridor",
        "bank",
        "organisation",
        "organization",
        "committee",
        "agency",
        "commission",
        "forum",
        "company",
        "corporation",
        "university",
        "institute",
        "министерство",
        "совет",
        "союз",
        "банк",
        "комитет",
        "агентство",
        "комиссия",
        "корпорация",
        "университет",
        "институт",
    ]
)
_KINDS: tuple[EntityKind, ...] = ("person", "place", "organisation")
# A name not in the glossary is listed only when it recurs.
_MIN_UNKNOWN_MENTIONS = 2


@dataclass(frozen=True, slots=True)
class Mention:
    """A name found in the transcript; ``entry`` is None for names not in the glossary."""

    entry: GlossaryEntry | None
    surface: str
    kind: EntityKind
    count: int


@cache
def _glossary_pattern(
    resources: Resources, language: str
) -> tuple[re.Pattern[str], dict[str, int]]:
    """One alternation of every glossary form in ``language``, longest first."""
    owner: dict[str, int] = {}
    for index, entry in enumerate(resources.glossary):
        for form in entry.aliases.get(language, ()):
            owner.setdefault(form, index)
    alternatives = sorted(owner, key=len, reverse=True)
    body = "|".join(re.escape(a) for a in alternatives) or r"(?!x)x"
    # Word boundaries written out: \b does not see Devanagari vowel signs as word characters.
    pattern = re.compile(rf"(?<![\w\u0900-\u097F])(?:{body})(?![\w\u0900-\u097F])")
    return pattern, owner


def find_entities(transcript: Transcript, resources: Resources, limit: int) -> list[Mention]:
    """Names in the transcript, most mentioned first."""
    known: Counter[int] = Counter()
    unknown: Counter[str] = Counter()
    for sentence in transcript.sentences:
        pattern, owner = _glossary_pattern(resources, sentence.language)
        covered = sentence.text
        for match in pattern.finditer(sentence.text):
            known[owner[match[0]]] += 1
            covered = covered.replace(match[0], " ")
        if sentence.language in ("en", "ru"):
            stop = resources.stopwords[sentence.language]
            unknown.update(_strip_function_words(m[0], stop) for m in _PROPER.finditer(covered))
    unknown.pop("", None)
    found: list[Mention] = []
    for index, count in known.items():
        entry = resources.glossary[index]
        kind: EntityKind = entry.kind if entry.kind in _KINDS else "organisation"  # type: ignore[assignment]
        found.append(Mention(entry, entry.forms.get(transcript.language, ""), kind, count))
    for name, count in unknown.items():
        if count >= _MIN_UNKNOWN_MENTIONS:
            last = name.split()[-1].lower()
            kind = "organisation" if last in _ORGANISATION_WORDS else "person"
            found.append(Mention(None, name, kind, count))
    found.sort(key=lambda m: -m.count)
    return found[:limit]


def _strip_function_words(name: str, stop: frozenset[str]) -> str:
    """"The Indian Navy" -> "Indian Navy"; a name that is all function words -> ""."""
    words = name.split()
    while words and words[0].lower() in stop:
        words.pop(0)
    return " ".join(words) if len(words) >= 2 else ""


def localise(found: list[Mention], language: str) -> tuple[Entity, ...]:
    """Entities named as the glossary writes them in ``language``; others as found."""
    entities = []
    for mention in found:
        forms = mention.entry.forms if mention.entry else {}
        text = forms.get(language) or forms.get("en") or mention.surface
        entities.append(Entity(text, mention.kind, mention.count))
    return tuple(entities)
