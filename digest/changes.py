"""What is new since the previous briefing from the same source.

A followed source's digest is compared with the one before it: its topics that the previous
briefing did not have are new ("New since 28 Nov"), and the previous briefing's topics that
are absent now are listed. Taxonomy topics are compared by id; emergent topics, whose ids
("emergent-1") are only positions, by their title; "Other remarks" is never new nor gone.

The previous briefing is kept as a :class:`BriefingRecord` (plain data, stored as JSON by
whoever follows the source) so that its topics can be named in every output language.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from digest.emergent import OTHER_TOPIC
from digest.model import Changes, Digest, GoneTopic, Topic


@dataclass(frozen=True, slots=True)
class BriefingRecord:
    """The topics of one briefing, per output language: what the next one is compared with."""

    # ISO date (YYYY-MM-DD) of the briefing: its published date, else when it was digested.
    date: str
    source: str
    # language -> (topic id, title) in the digest's order
    topics: dict[str, tuple[tuple[str, str], ...]]

    def to_json(self) -> str:
        return json.dumps(
            {
                "date": self.date,
                "source": self.source,
                "topics": {lang: [list(t) for t in ts] for lang, ts in self.topics.items()},
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> BriefingRecord:
        data = json.loads(raw)
        return cls(
            date=str(data["date"]),
            source=str(data["source"]),
            topics={
                lang: tuple((str(i), str(t)) for i, t in topics)
                for lang, topics in data["topics"].items()
            },
        )


def record_of(digests: Mapping[str, Digest], when: date) -> BriefingRecord:
    """The record of one briefing's digests (one per language)."""
    first = next(iter(digests.values()))
    return BriefingRecord(
        date=when.isoformat(),
        source=first.source_name,
        topics={lang: tuple((t.id, t.title) for t in d.topics) for lang, d in digests.items()},
    )


def _key(topic_id: str, title: str) -> str | None:
    """What identifies a topic across briefings; None for "Other remarks"."""
    if topic_id == OTHER_TOPIC:
        return None
    if topic_id.startswith("emergent-"):
        return "title:" + title.casefold()
    return topic_id


def compare(digest: Digest, previous: BriefingRecord) -> Changes:
    """``digest``'s changes since ``previous`` (its topics named in ``digest``'s language, or
    in English when the previous briefing was not rendered in it)."""
    before = previous.topics.get(digest.language) or previous.topics.get("en") or ()
    before_keys = {_key(i, t) for i, t in before} - {None}
    now_keys = {_key(t.id, t.title) for t in digest.topics} - {None}
    new = tuple(t.id for t in digest.topics if (k := _key(t.id, t.title)) and k not in before_keys)
    gone = tuple(
        GoneTopic(i, t) for i, t in before if (k := _key(i, t)) is not None and k not in now_keys
    )
    return Changes(
        since=previous.date, previous_source=previous.source, new_topics=new, gone_topics=gone
    )


def mark_changes(
    digests: Mapping[str, Digest], previous: BriefingRecord | None
) -> dict[str, Digest]:
    """The digests with their ``changes`` set; unchanged when there is no previous briefing."""
    if previous is None:
        return dict(digests)
    return {lang: replace(d, changes=compare(d, previous)) for lang, d in digests.items()}


def is_new(digest: Digest, topic: Topic) -> bool:
    return digest.changes is not None and topic.id in digest.changes.new_topics
