"""Merging the checked digests of an LLM request's chunks into the points of one digest:
bullets re-homed to the request's topics, trimmed, de-duplicated and capped, and the headline
from the first chunk (the one holding the most important topic) with its evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.base import Point, SummaryRequest
from models.engines.extractive import trim
from models.engines.llm_chunks import Chunk
from models.engines.llm_output import CheckedDigest, LlmBullet, attribute

ChunkDigest = tuple[Chunk, CheckedDigest]


def merge_points(request: SummaryRequest, digests: Sequence[ChunkDigest]) -> dict[str, list[Point]]:
    """Each topic's points from every chunk's bullets, in chunk order, without repeats."""
    members = {tid: set(ids) for tid, ids in request.topics}
    merged: dict[str, list[LlmBullet]] = {}
    for _, checked in digests:
        for topic in checked.topics:
            for bullet in topic.bullets:
                merged.setdefault(home(topic.id, bullet, members), []).append(bullet)
    points: dict[str, list[Point]] = {}
    for tid, bullets in merged.items():
        kept: list[Point] = []
        seen: set[str] = set()
        for bullet in bullets:
            text = trim(bullet.text, request.max_words)
            if text.casefold() in seen:
                continue
            seen.add(text.casefold())
            kept.append(Point(text, bullet.evidence))
            if len(kept) == request.max_points:
                break
        points[tid] = kept
    return points


def home(topic_id: str, bullet: LlmBullet, members: Mapping[str, set[int]]) -> str:
    """A bullet's topic: its own when the request has it, else the request topic holding most
    of its evidence (the pipeline shows only the request's topics)."""
    if topic_id in members:
        return topic_id
    best = max(members, key=lambda tid: len(members[tid] & set(bullet.evidence)), default=None)
    if best is not None and members[best] & set(bullet.evidence):
        return best
    return topic_id


def merged_headline(
    request: SummaryRequest,
    digests: Sequence[ChunkDigest],
    points: Mapping[str, Sequence[Point]],
) -> Point:
    """The first chunk's headline, citing what the model cited, else the bullets' sentences
    it draws on, else the first point's."""
    texts = {s.id: s.text for s in request.sentences}
    first = digests[0][1]
    evidence = first.headline_evidence or attribute(
        first.headline,
        {i: texts[i] for _, c in digests for t in c.topics for b in t.bullets for i in b.evidence},
    )
    if not evidence:
        evidence = next(iter(p.source_ids for ps in points.values() for p in ps), ())
    return Point(trim(first.headline, request.headline_max_words), tuple(evidence))
