"""Plain text and Markdown."""

from __future__ import annotations

import re

from digest.ingest.encoding import clean, decode

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+|$)(.*?)(?:\s+#+)?\s*$")
_RULE = re.compile(r"^\s{0,3}(?:([-*_])(?:\s*\1){2,}|=+)\s*$")  # also setext underlines
_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_LINK_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+.*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")
# Underscore emphasis only at word edges, so snake_case names survive.
_EM_UNDERSCORE = re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CODE_SPAN = re.compile(r"`+([^`]+)`+")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def read_text(data: bytes, name: str) -> str:
    """A .txt file as written, only decoded and cleaned."""
    return clean(decode(data, name))


def read_markdown(data: bytes, name: str) -> str:
    """A .md file with the markup noise taken out and the words kept."""
    return strip_markdown(clean(decode(data, name)))


def strip_markdown(text: str) -> str:
    """Light Markdown removal: enough that summaries do not quote '**' or '](http'.

    Not a Markdown parser: nested or unusual constructs may keep some markup.
    """
    text = _HTML_COMMENT.sub("", text)
    out: list[str] = []
    in_code = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            # Code is kept verbatim; markup rules would mangle it.
            out.append(line)
            continue
        if _RULE.match(line) or _LINK_DEF.match(line) or _TABLE_RULE.match(line):
            out.append("")
            continue
        line = _QUOTE.sub("", line)
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(1)
        line = _BULLET.sub(r"\1", line)
        line = _IMAGE_OR_LINK.sub(r"\1", line)
        line = _AUTOLINK.sub(r"\1", line)
        line = _CODE_SPAN.sub(r"\1", line)
        line = _STRONG.sub(r"\2", line)
        line = _EM_STAR.sub(r"\1", line)
        line = _EM_UNDERSCORE.sub(r"\1", line)
        line = _STRIKE.sub(r"\1", line)
        out.append(line)
    return "\n".join(out)
