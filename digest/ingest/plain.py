"""Plain text and Markdown.

Markdown is parsed by pyromark (pulldown-cmark, a CommonMark parser in Rust with linear-time
guarantees) and the plain text is taken from its event stream. markdown-it-py was measured
first: linear, but 6-12 s on a 400 KB line of ``[`` or ``![`` on this 2-core machine, which
is too slow for hostile input (tests/test_hostile_inputs.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from digest.ingest.encoding import clean, decode

# Linear: [^<>]* stops at the next "<", so the spans scanned from each "<" are disjoint.
_TAG = re.compile(r"<[^<>]*>")
# Blocks after which a blank line separates what follows.
_PARAGRAPH_ENDS = frozenset(
    {
        "Paragraph",
        "Heading",
        "BlockQuote",
        "CodeBlock",
        "List",
        "Table",
        "HtmlBlock",
        "FootnoteDefinition",
        "DefinitionList",
    }
)
# Blocks that end a line only: list items, table rows, definition list parts.
_LINE_ENDS = frozenset(
    {"Item", "TableHead", "TableRow", "DefinitionListTitle", "DefinitionListDefinition"}
)
# Front matter is metadata, not briefing text.
_SKIPPED = frozenset({"MetadataBlock"})


def read_text(data: bytes, name: str) -> str:
    """A .txt file as written, only decoded and cleaned."""
    return clean(decode(data, name))


def read_markdown(data: bytes, name: str) -> str:
    """A .md file with the markup taken out and the words kept."""
    return markdown_to_text(clean(decode(data, name)))


def markdown_to_text(text: str) -> str:
    """The words of a Markdown document: blocks separated by blank lines, list items by
    newlines, link and image text kept, URLs, HTML tags and front matter dropped."""
    import pyromark  # imported here: only Markdown needs it

    options = (
        pyromark.Options.ENABLE_TABLES
        | pyromark.Options.ENABLE_STRIKETHROUGH
        | pyromark.Options.ENABLE_TASKLISTS
        | pyromark.Options.ENABLE_FOOTNOTES
        | pyromark.Options.ENABLE_YAML_STYLE_METADATA_BLOCKS
    )
    return _PlainText().render(pyromark.events(text, options=options))


class _PlainText:
    """Collects text from pulldown-cmark events; a flat loop, so nesting depth costs nothing."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._skipping = 0
        self._html_block: list[str] | None = None

    def render(self, events: Iterable[Any]) -> str:
        for event in events:
            self._handle(event)
        return "".join(self._parts).strip("\n")

    def _handle(self, event: Any) -> None:
        if isinstance(event, str):  # SoftBreak, HardBreak, Rule
            if event in ("SoftBreak", "HardBreak"):
                self._text("\n")
            elif event == "Rule":
                self._end_block(2)
            return
        ((kind, value),) = event.items()
        if kind == "Start":
            self._start(_tag(value))
        elif kind == "End":
            self._end(_tag(value))
        elif kind in ("Text", "Code"):
            self._text(value)
        elif kind == "Html" and self._html_block is not None:
            self._html_block.append(value)
        # InlineHtml, FootnoteReference, TaskListMarker: markup, not words.

    def _start(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "HtmlBlock":
            self._html_block = []
        elif tag == "TableCell" and self._parts and not self._parts[-1].endswith("\n"):
            self._text(" ")  # between the cells of a row

    def _end(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping -= 1
        elif tag == "HtmlBlock" and self._html_block is not None:
            self._text(_html_text("".join(self._html_block)))
            self._html_block = None
        if tag in _LINE_ENDS:
            self._end_block(1)
        elif tag in _PARAGRAPH_ENDS:
            self._end_block(2)

    def _text(self, text: str) -> None:
        if not self._skipping and text:
            self._parts.append(text)

    def _end_block(self, newlines: int) -> None:
        """End the current block with at least ``newlines`` newlines (none at the start)."""
        if not self._parts or self._skipping:
            return
        tail = "".join(self._parts[-2:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < newlines:
            self._parts.append("\n" * (newlines - have))


def _tag(value: Any) -> str:
    """'Paragraph' from "Paragraph"; 'Heading' from {"Heading": {...}}."""
    return value if isinstance(value, str) else next(iter(value))


def _html_text(block: str) -> str:
    """Words of a raw HTML block: comments dropped, tags removed, entities decoded."""
    if block.lstrip().startswith("<!--"):
        return ""
    return html.unescape(_TAG.sub("", block)).strip()
