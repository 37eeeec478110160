"""What every renderer shows, in the digest's language, independent of markup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from digest.model import Bullet, Digest, Topic
from digest.resources import Resources

_KIND_LABELS = {"person": "people", "place": "places", "organisation": "organisations"}


@dataclass(frozen=True, slots=True)
class NameGroup:
    label: str
    names: tuple[str, ...]


def name_groups(digest: Digest, resources: Resources) -> list[NameGroup]:
    groups = []
    for kind, key in _KIND_LABELS.items():
        names = tuple(e.text for e in digest.entities if e.kind == kind)
        if names:
            groups.append(NameGroup(resources.label(digest.language, key), names))
    return groups


def attributed(bullet: Bullet) -> str:
    """"Lavrov: ..." when the transcript says who said it."""
    return f"{bullet.speaker}: {bullet.text}" if bullet.speaker else bullet.text


def byline(digest: Digest, resources: Resources) -> str:
    lang = digest.language
    source_language = resources.language_name(digest.source_language, lang)
    return " · ".join(
        [
            f"{resources.label(lang, 'source')}: {digest.source_name}",
            f"{resources.label(lang, 'source_language')}: {source_language}",
            f"{resources.label(lang, 'engine')}: {digest.engine}",
        ]
    )


def short_date(iso: str, language: str, resources: Resources) -> str:
    """"28 Nov", "28 नवंबर", "28 ноября" for an ISO date; the ISO text if it is not one."""
    try:
        when = date.fromisoformat(iso)
    except ValueError:
        return iso
    months = resources.labels.get(language, {}).get("months") or resources.labels["en"]["months"]
    return resources.label(language, "short_date", day=when.day, month=months[when.month - 1])


def new_since(digest: Digest, topic: Topic, resources: Resources) -> str | None:
    """"New since 28 Nov" for a topic the previous briefing from the source did not have."""
    if digest.changes is None or topic.id not in digest.changes.new_topics:
        return None
    when = short_date(digest.changes.since, digest.language, resources)
    return resources.label(digest.language, "new_since", date=when)


def gone_heading(digest: Digest, resources: Resources) -> str | None:
    """The heading over the previous briefing's topics absent now; None when there are none."""
    if digest.changes is None or not digest.changes.gone_topics:
        return None
    when = short_date(digest.changes.since, digest.language, resources)
    return resources.label(digest.language, "gone_topics", date=when)
