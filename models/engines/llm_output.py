"""Reading a language model's answer: the JSON digest found in free text, checked against
the request. Pure functions, no model: everything here is unit-testable with written-out
answers.

The digest shape the model is asked for::

    {"headline": "...",
     "topics": [{"id": "trade", "bullets": [{"text": "...", "evidence": [3, 7]}]}],
     "entities": ["..."]}                                   # optional

:func:`extract_json` finds the object in the answer (code fences and prose around it are
tolerated, as is a trailing comma); :func:`check_digest` validates it. Problems that make the
answer unusable (missing or mistyped fields, a headline in the wrong language, no usable
bullet at all) raise :class:`OutputError`, whose message is written to be shown to the model
on a retry. Problems confined to one bullet (a cited sentence that does not exist, no
citation, the wrong language, empty text) drop that bullet and are listed in
:attr:`CheckedDigest.dropped`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.text import words

# New topic ids the model may introduce: short, lower-case, like the taxonomy's own.
NEW_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
# Share of a text's letters that must be in the requested language's script.
MIN_SCRIPT_SHARE = 0.5
# Problems listed in one error message (the retry prompt must stay short).
_MAX_PROBLEMS = 6
_SCRIPT_NAMES = {"en": "Latin", "hi": "Devanagari", "ru": "Cyrillic"}
_LANGUAGE_NAMES = {"en": "English", "hi": "Hindi", "ru": "Russian"}
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_EVIDENCE_STRING = re.compile(r"^\s*\[?\s*(\d{1,9})\s*\]?\s*$")
_MIN_ATTRIBUTION_WORD = 3
_MAX_ATTRIBUTED = 3


class OutputError(ValueError):
    """The answer cannot be used; the message says why, in words meant for the model."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems) or ["the answer is not a valid digest"]
        shown = self.problems[:_MAX_PROBLEMS]
        more = len(self.problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problems" if more else ""))


@dataclass(frozen=True, slots=True)
class LlmBullet:
    text: str
    evidence: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LlmTopic:
    id: str
    bullets: tuple[LlmBullet, ...]


@dataclass(frozen=True, slots=True)
class CheckedDigest:
    headline: str
    # Sentences the headline cites, when the model gave any (unknown ids removed).
    headline_evidence: tuple[int, ...]
    topics: tuple[LlmTopic, ...]
    entities: tuple[str, ...] = ()
    # One line per bullet dropped, saying why (unknown sentence ids, wrong language, ...).
    dropped: tuple[str, ...] = field(default_factory=tuple)

    def bullet_count(self) -> int:
        return sum(len(t.bullets) for t in self.topics)


# -- finding the JSON -------------------------------------------------------------------------
def extract_json(text: str) -> dict[str, Any]:
    """The digest object in a model's answer, wherever it is in the text.

    Tried in order: the contents of code fences, then every ``{`` in the text; the first
    object that decodes (after a trailing-comma repair if needed) and looks like a digest
    (has ``topics`` or ``headline``) wins, else the first object at all.
    """
    if not text or not text.strip():
        raise OutputError(["the answer is empty: reply with the JSON object"])
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    first: Any = None
    opened = False
    for candidate in candidates:
        for start in (i for i, c in enumerate(candidate) if c == "{"):
            value = _decode_at(candidate, start)
            if not opened:
                first, opened = value, True
            if isinstance(value, dict) and ("topics" in value or "headline" in value):
                return value
    if isinstance(first, dict):
        return first
    if opened:
        raise OutputError(
            [
                "the JSON object is incomplete or malformed (check quotes, commas and closing "
                "brackets; the answer may have been cut off: keep bullets short)"
            ]
        )
    raise OutputError(["the answer contains no JSON object: reply with the JSON object only"])


def _decode_at(text: str, start: int) -> Any:
    decoder = json.JSONDecoder()
    try:
        return decoder.raw_decode(text, start)[0]
    except json.JSONDecodeError:
        pass
    # Small models often leave a comma before a closing bracket; repair only that.
    repaired = _TRAILING_COMMA.sub(r"\1", text[start:])
    try:
        return decoder.raw_decode(repaired)[0]
    except json.JSONDecodeError:
        return None


# -- scripts ----------------------------------------------------------------------------------
def _script(ch: str) -> str | None:
    code = ord(ch)
    if 0x0900 <= code <= 0x097F or 0xA8E0 <= code <= 0xA8FF:
        # Dandas and Devanagari digits are punctuation and numbers, not letters.
        return None if code in (0x0964, 0x0965) or 0x0966 <= code <= 0x096F else "hi"
    if 0x0400 <= code <= 0x052F:
        return "ru" if ch.isalpha() else None
    if ch.isalpha():
        return "en" if code < 0x0250 or 0x1E00 <= code <= 0x1EFF else "other"
    return None


def script_share(text: str, language: str) -> float:
    """Share of the letters in ``text`` written in ``language``'s script (0 when no letters).

    Devanagari vowel signs and virama count as letters: they are part of the word.
    """
    counts = {"en": 0, "hi": 0, "ru": 0, "other": 0}
    for ch in text:
        script = _script(ch)
        if script is not None:
            counts[script] += 1
    total = sum(counts.values())
    return counts.get(language, 0) / total if total else 0.0


def in_language(text: str, language: str, min_share: float = MIN_SCRIPT_SHARE) -> bool:
    """Whether ``text`` is written in ``language``'s script (names in other scripts allowed)."""
    return script_share(text, language) >= min_share


# -- checking ---------------------------------------------------------------------------------
def check_digest(
    data: Any,
    *,
    language: str,
    sentence_ids: Collection[int],
    known_topics: Mapping[str, str] | Collection[str] = (),
    max_points: int = 3,
    min_script_share: float = MIN_SCRIPT_SHARE,
) -> CheckedDigest:
    """Validate a decoded answer against the request.

    ``known_topics`` are the topic ids the model may use (mapped to their titles when given as
    a mapping: a title written where the id belongs is read as that id); other ids are
    accepted when they look like a new id (:data:`NEW_TOPIC_ID`). Bullets beyond
    ``max_points`` per topic are ignored; topics named twice are merged.
    """
    if not isinstance(data, dict):
        raise OutputError([f"the answer must be a JSON object, not {_kind(data)}"])
    problems: list[str] = []
    dropped: list[str] = []
    valid_ids = set(sentence_ids)
    lang_name = _LANGUAGE_NAMES.get(language, language)

    headline, headline_evidence = _headline(data, problems)
    if headline and not in_language(headline, language, min_script_share):
        problems.append(
            f'"headline" must be written in {lang_name} ({_SCRIPT_NAMES.get(language, "")} script)'
        )
    headline_evidence = tuple(i for i in headline_evidence if i in valid_ids)

    by_title = {}
    if isinstance(known_topics, Mapping):
        by_title = {_fold(str(title)): tid for tid, title in known_topics.items() if title}
    known = set(known_topics)

    raw_topics = data.get("topics")
    topics: dict[str, list[LlmBullet]] = {}
    if "topics" not in data:
        problems.append('missing field "topics" (a list of {"id", "bullets"} objects)')
    elif not isinstance(raw_topics, list):
        problems.append(f'"topics" must be a list, not {_kind(raw_topics)}')
    elif not raw_topics:
        problems.append('"topics" is empty: write at least one topic with bullets')
    else:
        for index, raw in enumerate(raw_topics):
            where = f"topics[{index}]"
            if not isinstance(raw, dict):
                problems.append(f"{where} must be an object, not {_kind(raw)}")
                continue
            topic_id = _topic_id(raw, where, known, by_title, problems)
            bullets = raw.get("bullets")
            if "bullets" not in raw:
                problems.append(f'{where}: missing field "bullets"')
                continue
            if not isinstance(bullets, list):
                problems.append(f'{where}: "bullets" must be a list, not {_kind(bullets)}')
                continue
            if topic_id is None:
                continue
            kept = topics.setdefault(topic_id, [])
            for b_index, raw_bullet in enumerate(bullets):
                bullet = _bullet(
                    raw_bullet,
                    f"{where}.bullets[{b_index}]",
                    valid_ids,
                    language,
                    min_script_share,
                    problems,
                    dropped,
                )
                if bullet is not None and len(kept) < max_points:
                    kept.append(bullet)

    if problems:
        raise OutputError(problems)
    result = tuple(LlmTopic(tid, tuple(bullets)) for tid, bullets in topics.items() if bullets)
    if not result:
        reasons = dropped or ["no topic has any bullet"]
        raise OutputError(["no usable bullet", *reasons])
    return CheckedDigest(
        headline=headline,
        headline_evidence=headline_evidence,
        topics=result,
        entities=_entities(data.get("entities")),
        dropped=tuple(dropped),
    )


def parse_digest(text: str, **checks: Any) -> CheckedDigest:
    """:func:`extract_json` then :func:`check_digest` (keyword arguments go to the latter)."""
    return check_digest(extract_json(text), **checks)


def _headline(data: dict[str, Any], problems: list[str]) -> tuple[str, tuple[int, ...]]:
    if "headline" not in data:
        problems.append('missing field "headline" (one sentence)')
        return "", ()
    raw = data["headline"]
    evidence: tuple[int, ...] = ()
    if isinstance(raw, dict):
        evidence = tuple(i for i in map(_sentence_id, raw.get("evidence") or []) if i is not None)
        raw = raw.get("text")
    if not isinstance(raw, str) or not raw.strip():
        problems.append('"headline" must be a non-empty string')
        return "", ()
    return _clean(raw), evidence


def _topic_id(
    raw: dict[str, Any],
    where: str,
    known: set[str],
    by_title: Mapping[str, str],
    problems: list[str],
) -> str | None:
    if "id" not in raw:
        problems.append(f'{where}: missing field "id"')
        return None
    value = raw["id"]
    if not isinstance(value, str) or not value.strip():
        problems.append(f'{where}: "id" must be a non-empty string')
        return None
    value = value.strip()
    if value in known:
        return value
    if _fold(value) in by_title:
        return by_title[_fold(value)]
    if value.lower() in known:
        return value.lower()
    if NEW_TOPIC_ID.match(value):
        return value
    listed = ", ".join(sorted(known)) if known else "none"
    problems.append(
        f'{where}: id "{value[:40]}" is not one of the listed topic ids ({listed}) nor a new '
        "short id in lower-case Latin letters"
    )
    return None


def _bullet(
    raw: Any,
    where: str,
    valid_ids: set[int],
    language: str,
    min_share: float,
    problems: list[str],
    dropped: list[str],
) -> LlmBullet | None:
    if not isinstance(raw, dict):
        problems.append(f'{where} must be an object with "text" and "evidence", not {_kind(raw)}')
        return None
    missing = [name for name in ("text", "evidence") if name not in raw]
    if missing:
        problems.append(f"{where}: missing field " + " and ".join(f'"{m}"' for m in missing))
        return None
    text, evidence = raw["text"], raw["evidence"]
    if not isinstance(text, str):
        problems.append(f'{where}: "text" must be a string, not {_kind(text)}')
        return None
    if isinstance(evidence, int | str):
        evidence = [evidence]
    if not isinstance(evidence, list):
        problems.append(f'{where}: "evidence" must be a list of sentence numbers')
        return None
    text = _clean(text)
    ids = [_sentence_id(v) for v in evidence]
    if not text:
        dropped.append(f"{where}: empty text")
        return None
    if not ids:
        dropped.append(f"{where}: cites no sentence")
        return None
    unknown = [
        str(v) for v, i in zip(evidence, ids, strict=True) if i is None or i not in valid_ids
    ]
    if unknown:
        dropped.append(f"{where}: cites sentence(s) {', '.join(unknown)} that do not exist")
        return None
    if not in_language(text, language, min_share):
        dropped.append(f"{where}: not written in {_LANGUAGE_NAMES.get(language, language)}")
        return None
    return LlmBullet(text, tuple(dict.fromkeys(i for i in ids if i is not None)))


def _sentence_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _EVIDENCE_STRING.match(value)
        return int(match.group(1)) if match else None
    return None


def _entities(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    names = []
    for item in raw:
        if isinstance(item, dict):
            item = item.get("text") or item.get("name")
        if isinstance(item, str) and item.strip():
            names.append(_clean(item))
    return tuple(dict.fromkeys(names))


def _clean(text: str) -> str:
    text = " ".join(text.split())
    # A leading bullet mark or a sentence number the model copied from the transcript.
    return re.sub(r"^(?:[-•*]\s+|\[\d+\]\s*)", "", text).strip()


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# -- attribution ------------------------------------------------------------------------------
def attribute(text: str, candidates: Mapping[int, str]) -> tuple[int, ...]:
    """Ids of the candidate sentences ``text`` shares most content words with (none if none)."""
    tokens = {w for w in words(text) if len(w) >= _MIN_ATTRIBUTION_WORD}
    scores = {i: len(tokens & set(words(t))) for i, t in candidates.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        return ()
    chosen = sorted(scores, key=lambda i: (-scores[i], i))[:_MAX_ATTRIBUTED]
    return tuple(sorted(i for i in chosen if scores[i] * 2 >= best))
