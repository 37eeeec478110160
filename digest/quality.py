"""Quality of digests against hand annotations of real transcripts (eval/README.md).

Each transcript ``NAME.LANG.txt`` has an annotation ``NAME.LANG.toml``: the people, places,
organisations and topics a reader expects, key facts, sentences that must never be bullets
and lines that are no headline. A digest in the transcript's own language is scored on:

- defects, by class: broken sentence, question as a bullet, pleasantry or procedure as a
  bullet, junk emergent topic, headline that is not a headline, person missed, not a person;
- topic precision and recall;
- recall and precision of people, places and organisations;
- key-fact coverage: the share of key facts whose content words appear in one bullet;
- digest time.

The checks here use the annotations and fixed rules of their own, never the engine's filters,
so that a defect the engine lets through is counted.
"""

from __future__ import annotations

import enum
import re
import time
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digest.ingest import read_path
from digest.model import Digest
from models.text import lemma, words
from settings.schema import IngestSettings

_CASE = re.compile(r"^(?P<stem>.+)\.(?P<lang>en|hi|ru)\.txt$")
_FACT_SHARE = 0.6
_MIN_BULLET_WORDS = 5
# Tokens that end a piece of text without ending the sentence.
_ABBREVIATIONS = frozenset(
    [
        "u.s",
        "u.k",
        "d.c",
        "u.n",
        "e.u",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "no",
        "gen",
        "sen",
        "rep",
        "jr",
        "sr",
        "vs",
        "etc",
        "т.е",
        "т.д",
        "т.п",
        "г",
        "гг",
        "им",
    ]
)
_OFFICES = frozenset(
    """prime minister|president|vice president|minister|foreign minister|spokesperson|secretary
    |ambassador|press secretary|external affairs minister|foreign secretary|premier|chancellor
    |премьер-министр|президент|министр|посол|официальный представитель|пресс-секретарь
    |प्रधानमंत्री|राष्ट्रपति|मंत्री|प्रवक्ता|विदेश मंत्री|राजदूत""".replace("\n", "")
    .replace("    ", "")
    .split("|")
)
_JUNK_TOPIC_WORDS = frozenset(
    [
        "thank",
        "thanks",
        "speak",
        "say",
        "said",
        "tell",
        "talk",
        "think",
        "know",
        "want",
        "question",
        "questions",
        "answer",
        "issue",
        "thing",
        "today",
        "week",
        "time",
        "we’re",
        "we're",
        "you're",
        "it's",
        "sir",
        "briefing",
        "also",
        "well",
        "just",
        "спасибо",
        "вопрос",
        "сказать",
        "говорить",
        "ответ",
        "धन्यवाद",
        "प्रश्न",
        "सवाल",
        "जवाब",
        "बात",
    ]
)
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "января",
        "февраля",
        "марта",
        "апреля",
        "мая",
        "июня",
        "июля",
        "августа",
        "сентября",
        "октября",
        "ноября",
        "декабря",
        "जनवरी",
        "फरवरी",
        "फ़रवरी",
        "मार्च",
        "अप्रैल",
        "मई",
        "जून",
        "जुलाई",
        "अगस्त",
        "सितंबर",
        "सितम्बर",
        "अक्टूबर",
        "नवंबर",
        "नवम्बर",
        "दिसंबर",
        "दिसम्बर",
    ]
)


class Defect(enum.Enum):
    BROKEN_SENTENCE = "broken sentence"
    QUESTION = "question as a bullet"
    PLEASANTRY = "pleasantry or procedure as a bullet"
    JUNK_TOPIC = "junk emergent topic"
    HEADLINE = "headline is not a headline"
    PERSON_MISSED = "person missed"
    NOT_A_PERSON = "not a person"


@dataclass(frozen=True, slots=True)
class Annotation:
    people: tuple[str, ...]
    places: tuple[str, ...]
    organisations: tuple[str, ...]
    topics: frozenset[str]
    wrong_topics: frozenset[str]
    key_facts: tuple[str, ...]
    never_bullets: tuple[str, ...]
    bad_headlines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    language: str
    transcript: Path
    annotation: Annotation


@dataclass(slots=True)
class Tally:
    """Counts that add up over cases."""

    files: int = 0
    seconds: float = 0.0
    defects: dict[Defect, int] = field(default_factory=lambda: dict.fromkeys(Defect, 0))
    examples: list[str] = field(default_factory=list)
    topic_tp: int = 0
    topic_fp: int = 0
    topic_fn: int = 0
    wrong_topics: int = 0
    # kind -> [expected found, expected, listed that match, listed]
    names: dict[str, list[int]] = field(
        default_factory=lambda: {k: [0, 0, 0, 0] for k in ("people", "places", "organisations")}
    )
    facts_covered: int = 0
    facts: int = 0

    def add(self, other: Tally) -> None:
        self.files += other.files
        self.seconds += other.seconds
        for defect, count in other.defects.items():
            self.defects[defect] += count
        self.examples.extend(other.examples)
        self.topic_tp += other.topic_tp
        self.topic_fp += other.topic_fp
        self.topic_fn += other.topic_fn
        self.wrong_topics += other.wrong_topics
        for kind, counts in other.names.items():
            self.names[kind] = [a + b for a, b in zip(self.names[kind], counts, strict=True)]
        self.facts_covered += other.facts_covered
        self.facts += other.facts

    def summary(self) -> dict[str, Any]:
        precision = _ratio(self.topic_tp, self.topic_tp + self.topic_fp)
        recall = _ratio(self.topic_tp, self.topic_tp + self.topic_fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        names = {
            kind: {"recall": _ratio(c[0], c[1]), "precision": _ratio(c[2], c[3])}
            for kind, c in self.names.items()
        }
        return {
            "files": self.files,
            "defects": {d.value: n for d, n in self.defects.items()},
            "defects_total": sum(self.defects.values()),
            "topic_precision": round(precision, 3),
            "topic_recall": round(recall, 3),
            "topic_f1": round(f1, 3),
            "wrong_topics": self.wrong_topics,
            "names": {k: {m: round(v, 3) for m, v in d.items()} for k, d in names.items()},
            "key_fact_coverage": round(_ratio(self.facts_covered, self.facts), 3),
            "seconds": round(self.seconds, 2),
            "seconds_per_file": round(self.seconds / self.files, 3) if self.files else 0.0,
        }


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def load_cases(folder: Path) -> list[Case]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a directory")
    cases = []
    for path in sorted(folder.iterdir()):
        match = _CASE.match(path.name)
        if not match:
            continue
        toml_path = path.with_suffix(".toml")
        if not toml_path.is_file():
            raise ValueError(f"{path.name}: no annotation {toml_path.name}")
        try:
            data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{toml_path}: not valid TOML: {exc}") from None
        cases.append(Case(match["stem"], match["lang"], path, _annotation(data, toml_path)))
    if not cases:
        raise ValueError(f"{folder}: no transcripts named NAME.LANG.txt with NAME.LANG.toml")
    return cases


def _annotation(data: dict[str, Any], path: Path) -> Annotation:
    expect = data.get("expect")
    if not isinstance(expect, dict):
        raise ValueError(f"{path}: no [expect] table")

    def strings(key: str) -> tuple[str, ...]:
        value = expect.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{path}: expect.{key} must be a list of strings")
        return tuple(value)

    return Annotation(
        people=strings("people"),
        places=strings("places"),
        organisations=strings("organisations"),
        topics=frozenset(strings("topics")),
        wrong_topics=frozenset(strings("wrong_topics")),
        key_facts=strings("key_facts"),
        never_bullets=strings("never_bullets"),
        bad_headlines=strings("bad_headlines"),
    )


DigestFn = Callable[[Path, str], Digest]


def evaluate(cases: Iterable[Case], make_digest: DigestFn) -> dict[str, Tally]:
    """Tallies per language and "all"."""
    tallies: dict[str, Tally] = {}
    total = Tally()
    for case in cases:
        started = time.perf_counter()
        digest = make_digest(case.transcript, case.language)
        tally = score(case, digest)
        tally.seconds = time.perf_counter() - started
        tallies.setdefault(case.language, Tally()).add(tally)
        total.add(tally)
    tallies["all"] = total
    return tallies


def score(case: Case, digest: Digest) -> Tally:
    tally = Tally(files=1)
    note = tally.examples.append
    expect = case.annotation
    lang = case.language
    bullets = [b.text for t in digest.topics for b in t.bullets]
    never = [(s.rstrip().endswith("?"), _norm(s)) for s in expect.never_bullets]

    def defect(kind: Defect, text: str) -> None:
        tally.defects[kind] += 1
        note(f"{case.name}.{lang}: {kind.value}: {text[:100]}")

    for text in bullets:
        if _broken(text):
            defect(Defect.BROKEN_SENTENCE, text)
        elif text.rstrip("\"'»”’)").endswith("?") or _matches(text, never, questions=True):
            defect(Defect.QUESTION, text)
        elif _matches(text, never, questions=False) or len(words(text)) < _MIN_BULLET_WORDS:
            defect(Defect.PLEASANTRY, text)
    emergent = [t for t in digest.topics if t.id.startswith("emergent")]
    for topic in emergent:
        if _junk_topic(topic.title, lang):
            defect(Defect.JUNK_TOPIC, topic.title)
    for topic in emergent[2:]:
        defect(Defect.JUNK_TOPIC, f"more than two emergent topics: {topic.title}")
    if _bad_headline(digest.headline, expect, never):
        defect(Defect.HEADLINE, digest.headline)

    listed = {kind: [e.text for e in digest.entities if e.kind == kind] for kind in _KINDS}
    people = listed["person"]
    for person in expect.people:
        if not any(_same_name(person, p) for p in people):
            defect(Defect.PERSON_MISSED, person)
    others = (*expect.places, *expect.organisations)
    for person in people:
        if any(_same_place(person, o) for o in others) or _norm(person) in _OFFICES:
            defect(Defect.NOT_A_PERSON, person)

    for kind, key, expected, same in (
        ("person", "people", expect.people, _same_name),
        ("place", "places", expect.places, _same_place),
        ("organisation", "organisations", expect.organisations, _same_place),
    ):
        found = sum(1 for e in expected if any(same(e, x) for x in listed[kind]))
        right = sum(1 for x in listed[kind] if any(same(e, x) for e in expected))
        tally.names[key] = [found, len(expected), right, len(listed[kind])]

    predicted = {t.id for t in digest.topics if not t.id.startswith("emergent") and t.id != "other"}
    tally.topic_tp = len(predicted & expect.topics)
    tally.topic_fp = len(predicted - expect.topics)
    tally.topic_fn = len(expect.topics - predicted)
    tally.wrong_topics = len(predicted & expect.wrong_topics)
    for topic in sorted(predicted & expect.wrong_topics):
        note(f"{case.name}.{lang}: wrong topic: {topic}")
    for topic in sorted(expect.topics - predicted):
        note(f"{case.name}.{lang}: topic missed: {topic}")

    texts = [digest.headline, *bullets]
    tally.facts = len(expect.key_facts)
    for fact in expect.key_facts:
        if _covered(fact, texts, lang):
            tally.facts_covered += 1
        else:
            note(f"{case.name}.{lang}: key fact missed: {fact[:100]}")
    return tally


_KINDS = ("person", "place", "organisation")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower()
    text = re.sub(r"[^\w\u0900-\u097F\s]", " ", text)
    return " ".join(text.split())


def _matches(text: str, never: Sequence[tuple[bool, str]], *, questions: bool) -> bool:
    """Does a bullet repeat a sentence that must never be a bullet (a question when
    ``questions``, anything else otherwise)?"""
    bullet = _norm(text.rstrip("…"))
    if not bullet:
        return False
    for is_question, item in never:
        if not item or is_question != questions:
            continue
        if bullet == item or (len(item.split()) >= 3 and (item in bullet or bullet in item)):
            return True
    return False


def _broken(text: str) -> bool:
    body = text.rstrip()
    if body.endswith("…"):
        return False  # trimmed on purpose at a clause break
    first = body[:1]
    if first.isalpha() and first.islower():
        return True
    tokens = body.split()
    last = tokens[-1] if tokens else ""
    if len(tokens) > 1 and tokens[-2][:1].isdigit() and last.lower() in ("г.", "гг."):
        return False  # "до 2035 г." ends a Russian sentence
    token = last.rsplit("-", 1)[-1].rstrip(".").lower()
    initials = re.fullmatch(r"(?:\w\.)*\w", token) and last[:1].isupper()
    if last.endswith(".") and (token in _ABBREVIATIONS or initials):
        return len(token) <= 4
    return False


def _junk_topic(title: str, language: str) -> bool:
    keyphrase = title.split(":", 1)[-1].strip().lower()
    tokens = words(keyphrase)
    return (
        not tokens
        or any(t in _JUNK_TOPIC_WORDS or lemma(t, language) in _JUNK_TOPIC_WORDS for t in tokens)
        or any(len(t) < 3 for t in tokens)
        or "'" in keyphrase
        or "’" in keyphrase
    )


def _bad_headline(headline: str, expect: Annotation, never: Sequence[tuple[bool, str]]) -> bool:
    norm = _norm(headline)
    if any(norm == _norm(b) for b in expect.bad_headlines) or any(norm == n for _, n in never):
        return True
    stripped = headline.rstrip()
    if stripped.endswith(("?", ",")):
        return True
    tokens = _norm(headline).split()
    if any(t in _MONTHS for t in tokens) and any(t.isdigit() for t in tokens):
        other = [t for t in tokens if t not in _MONTHS and not t.isdigit()]
        return len(other) <= 3
    return False


def _surname(name: str) -> str:
    parts = _norm(name.replace(".", ". ")).split()
    return parts[-1] if parts else ""


def _same_name(expected: str, listed: str) -> bool:
    """Same surname, or every word of one is a word of the other ("Xi" and "Xi Jinping",
    whose family name comes first)."""
    a, b = _norm(expected), _norm(listed)
    if not a or not b:
        return False
    if a == b or _surname(expected) == _surname(listed):
        return True
    short, long = sorted((set(a.split()), set(b.split())), key=len)
    return all(len(w) >= 2 for w in short) and short <= long


def _same_place(expected: str, listed: str) -> bool:
    a, b = _norm(expected), _norm(listed)
    if not a or not b:
        return False
    if a == b or (len(a) > 3 and a in b) or (len(b) > 3 and b in a):
        return True
    la = [lemma(w, "ru") for w in a.split()]
    lb = [lemma(w, "ru") for w in b.split()]
    return la == lb


def _covered(fact: str, texts: Sequence[str], language: str) -> bool:
    content = _content(fact, language)
    if not content:
        return True
    return any(len(content & _content(t, language)) >= _FACT_SHARE * len(content) for t in texts)


def _content(text: str, language: str) -> set[str]:
    return {lemma(w, language) for w in words(text) if len(w) >= 3}


def read_digest(
    pipeline_run: Callable[..., dict[str, Digest]], limits: IngestSettings
) -> DigestFn:
    """Adapt a pipeline to ``DigestFn``: digest a transcript in its own language."""

    def make(path: Path, language: str) -> Digest:
        doc = read_path(path, limits)
        return pipeline_run(doc, [language])[language]

    return make


def format_table(tallies: dict[str, Tally]) -> str:
    """One row per language and "all": defects by class, topics, names, key facts, time."""
    short = {
        Defect.BROKEN_SENTENCE: "broken",
        Defect.QUESTION: "question",
        Defect.PLEASANTRY: "pleasant",
        Defect.JUNK_TOPIC: "junk-top",
        Defect.HEADLINE: "headline",
        Defect.PERSON_MISSED: "pers-miss",
        Defect.NOT_A_PERSON: "not-pers",
    }
    head = ["lang", "files", *short.values(), "topicP", "topicR", "topicF1", "wrongT"]
    head += ["peopleR", "peopleP", "placesR", "placesP", "orgsR", "orgsP", "facts", "s/file"]
    rows = [head]
    for lang, tally in tallies.items():
        s = tally.summary()
        names = s["names"]
        rows.append(
            [lang, str(s["files"])]
            + [str(tally.defects[d]) for d in short]
            + [f"{s['topic_precision']:.2f}", f"{s['topic_recall']:.2f}", f"{s['topic_f1']:.2f}"]
            + [str(s["wrong_topics"])]
            + [
                f"{names[k][m]:.2f}"
                for k in ("people", "places", "organisations")
                for m in ("recall", "precision")
            ]
            + [f"{s['key_fact_coverage']:.2f}", f"{s['seconds_per_file']:.2f}"]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
