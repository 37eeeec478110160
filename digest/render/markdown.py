"""Markdown: a heading per topic, bullets, key names and notes."""

from __future__ import annotations

from digest.model import Digest
from digest.render.sections import attributed, byline, gone_heading, name_groups, new_since
from digest.resources import Resources


def render_markdown(digest: Digest, resources: Resources) -> str:
    lang = digest.language
    lines = [f"# {digest.headline}", "", f"_{byline(digest, resources)}_", ""]
    for topic in digest.topics:
        lines += [f"## {topic.title}", ""]
        marker = new_since(digest, topic, resources)
        if marker:
            lines += [f"_🆕 {marker}_", ""]
        lines += [f"- {attributed(bullet)}" for bullet in topic.bullets]
        lines.append("")
    gone = gone_heading(digest, resources)
    if gone and digest.changes is not None:
        lines += [f"## {gone}", ""]
        lines += [f"- {topic.title}" for topic in digest.changes.gone_topics]
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
