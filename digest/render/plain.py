"""Plain text, for terminals and e-mail."""

from __future__ import annotations

from digest.model import Digest
from digest.render.sections import attributed, byline, gone_heading, name_groups, new_since
from digest.resources import Resources


def render_plain(digest: Digest, resources: Resources) -> str:
    lang = digest.language
    lines = [digest.headline, "=" * min(len(digest.headline), 72), byline(digest, resources), ""]
    for topic in digest.topics:
        lines.append(topic.title.upper() if lang != "hi" else topic.title)
        marker = new_since(digest, topic, resources)
        if marker:
            lines.append(f"  [{marker}]")
        lines += [f"  * {attributed(bullet)}" for bullet in topic.bullets]
        lines.append("")
    gone = gone_heading(digest, resources)
    if gone and digest.changes is not None:
        lines.append(gone)
        lines += [f"  - {topic.title}" for topic in digest.changes.gone_topics]
        lines.append("")
    groups = name_groups(digest, resources)
    if groups:
        lines.append(resources.label(lang, "key_names"))
        lines += [f"  {g.label}: {', '.join(g.names)}" for g in groups]
        lines.append("")
    if digest.notices:
        lines.append(f"{resources.label(lang, 'notices')}:")
        lines += [f"  ! {notice}" for notice in digest.notices]
    return "\n".join(lines).rstrip() + "\n"
