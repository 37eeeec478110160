"""What every renderer shows, in the digest's language, independent of markup."""

from __future__ import annotations

from dataclasses import dataclass

from digest.model import Bullet, Digest
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
