"""Telegram HTML (the Bot API's parse_mode=HTML subset), split into messages that fit."""

from __future__ import annotations

from html import escape

from digest.model import Digest
from digest.render.sections import attributed, gone_heading, name_groups, new_since
from digest.resources import Resources

TELEGRAM_LIMIT = 4096


def telegram_blocks(digest: Digest, resources: Resources) -> list[str]:
    """The digest as HTML blocks that must not be split: header, one per topic, names, notes."""
    lang = digest.language
    blocks = [f"<b>{escape(digest.headline)}</b>"]
    for topic in digest.topics:
        lines = [f"<b>{escape(topic.title)}</b>"]
        marker = new_since(digest, topic, resources)
        if marker:
            lines[0] += f" · <i>🆕 {escape(marker)}</i>"
        lines += [f"• {escape(attributed(bullet))}" for bullet in topic.bullets]
        blocks.append("\n".join(lines))
    gone = gone_heading(digest, resources)
    if gone and digest.changes is not None:
        lines = [f"<b>{escape(gone)}</b>"]
        lines += [f"• {escape(topic.title)}" for topic in digest.changes.gone_topics]
        blocks.append("\n".join(lines))
    groups = name_groups(digest, resources)
    if groups:
        lines = [f"<b>{escape(resources.label(lang, 'key_names'))}</b>"]
        lines += [f"<i>{escape(g.label)}:</i> {escape(', '.join(g.names))}" for g in groups]
        blocks.append("\n".join(lines))
    if digest.notices:
        blocks.append("\n".join(f"<i>⚠ {escape(n)}</i>" for n in digest.notices))
    return blocks


def render_telegram_html(digest: Digest, resources: Resources) -> str:
    return "\n\n".join(telegram_blocks(digest, resources))


def split_telegram_html(
    digest: Digest, resources: Resources, limit: int = TELEGRAM_LIMIT
) -> list[str]:
    """Messages of at most ``limit`` characters, broken between topics where possible."""
    parts: list[str] = []
    current = ""
    for block in telegram_blocks(digest, resources):
        for piece in _fit(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                parts.append(current)
                current = piece
    if current:
        parts.append(current)
    return parts


def _fit(block: str, limit: int) -> list[str]:
    """A block longer than a message is broken between lines, then inside a line."""
    if len(block) <= limit:
        return [block]
    pieces: list[str] = []
    for line in block.split("\n"):
        while len(line) > limit:
            cut = _safe_cut(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) + 1 + len(piece) <= limit:
            merged[-1] += "\n" + piece
        else:
            merged.append(piece)
    return merged


def _safe_cut(line: str, limit: int) -> int:
    """An index <= limit that does not fall inside a tag or an entity like &amp;."""
    cut = line.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    tag, amp = line.rfind("<", 0, cut), line.rfind("&", 0, cut)
    if tag > line.rfind(">", 0, cut):
        cut = tag
    if amp > line.rfind(";", 0, cut):
        cut = amp
    return max(cut, 1)
