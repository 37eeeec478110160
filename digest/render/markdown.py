"""Markdown: a heading per topic, bullets, key names and notes."""

from __future__ import annotations

from digest.model import Digest
from digest.render.sections import attributed, byline, name_groups
from digest.resources import Resources


def render_markdown(digest: Digest, resources: Resources) -> str:
    lang = digest.language
    lines = [f"# {digest.headline}", "", f"_{byline(digest, resources)}_", ""]
    for topic in digest.topics:
        lines += [f"## {topic.title}", ""]
        lines += [f"- {attributed(bullet)}" for bullet in topic.bullets]
        lines.append("")
    groups = name_groups(digest, resources)
    if groups:
        lines += [f"## {resources.label(lang, 'key_names')}", ""]
        lines += [f"- **{g.label}:** {', '.join(g.names)}" for g in groups]
        lines.append("")
    if digest.notices:
        lines += [f"> **{resources.label(lang, 'notices')}:**"]
        lines += [f"> - {notice}" for notice in digest.notices]
        lines.append("")
    return "\n".join(lines)
