"""The typed data model that flows through the pipeline and out of it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

# 1.1: bullets carry their speaker; 1.2: an optional ``changes`` block (followed sources).
SCHEMA_VERSION = "1.2"
EntityKind = Literal["person", "place", "organisation"]


@dataclass(frozen=True, slots=True)
class Document:
    """Text of one input, decoded and NFC-normalised, with where it came from."""

    name: str
    text: str
    format: str
    # The legacy code page part of the text was read in, when the file mixed it with UTF-8:
    # the digest says so, since the guess may be wrong.
    assumed_encoding: str | None = None


class SentenceKind(enum.Enum):
    """What a sentence does in the briefing; only statements become bullets."""

    STATEMENT = "statement"
    QUESTION = "question"  # asked by a reporter, or ends with a question mark
    PLEASANTRY = "pleasantry"  # greetings, thanks, moderation ("Next question")
    HEADING = "heading"  # a subheading ("О ситуации вокруг Украины")
    FRAGMENT = "fragment"  # too short to inform
    REPEAT = "repeat"  # word for word a statement made before (a page that repeats a paragraph)


@dataclass(frozen=True, slots=True)
class Sentence:
    id: int
    text: str
    language: str
    paragraph: int
    speaker: str | None = None
    is_question: bool = False
    kind: SentenceKind = SentenceKind.STATEMENT

    @property
    def informative(self) -> bool:
        return self.kind is SentenceKind.STATEMENT


@dataclass(frozen=True, slots=True)
class Paragraph:
    index: int
    text: str
    language: str
    speaker: str | None = None
    is_question: bool = False
    is_heading: bool = False


@dataclass(frozen=True, slots=True)
class Transcript:
    """A document split into paragraphs and sentences, each with its language."""

    name: str
    language: str
    paragraphs: tuple[Paragraph, ...]
    sentences: tuple[Sentence, ...]
    speakers: tuple[str, ...] = ()
    # Paragraphs left out because they are in an unsupported language.
    skipped_paragraphs: int = 0
    # Id of the sentence that is the document's own title line, if it has one.
    title_sentence: int | None = None
    # Sentences of the lines that open the page before the briefing (publisher, title, byline,
    # venue): headings that name no section.
    front_matter_sentences: int = 0

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.language for p in self.paragraphs))

    def sentence(self, sentence_id: int) -> Sentence:
        return self.sentences[sentence_id]


@dataclass(frozen=True, slots=True)
class TopicGroup:
    """Sentences assigned to one topic, before summarising."""

    id: str
    sentence_ids: tuple[int, ...]
    keywords: tuple[str, ...] = ()
    emergent: bool = False


@dataclass(frozen=True, slots=True)
class Bullet:
    text: str
    # Ids of the transcript sentences this bullet is drawn from.
    evidence: tuple[int, ...]
    # Who said it, as the digest names them ("Lavrov"), when the transcript says.
    speaker: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    bullets: tuple[Bullet, ...]


@dataclass(frozen=True, slots=True)
class Entity:
    text: str
    kind: EntityKind
    mentions: int = 1


@dataclass(frozen=True, slots=True)
class GoneTopic:
    """A topic of the previous briefing from the same source that this one does not have."""

    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Changes:
    """What is new since the previous briefing from the same source (digest/changes.py)."""

    # Date of the previous briefing, ISO 8601 (YYYY-MM-DD).
    since: str
    previous_source: str
    # Ids of this digest's topics the previous briefing did not have.
    new_topics: tuple[str, ...]
    gone_topics: tuple[GoneTopic, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    source_name: str
    source_language: str
    language: str
    headline: str
    topics: tuple[Topic, ...]
    entities: tuple[Entity, ...]
    engine: str
    notices: tuple[str, ...] = ()
    # How the digest was produced, e.g. ("summarise:ru", "translate:ru->en").
    route: tuple[str, ...] = ()
    # Source sentences by id, so that evidence can be shown.
    sentences: dict[int, str] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    # Set for a briefing from a followed source that had an earlier one.
    changes: Changes | None = None
