"""HTML: the main text of a page, without menus, headers and footers."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from itertools import islice
from typing import Any

from digest.ingest.encoding import clean, decode, fail, tidy

log = logging.getLogger(__name__)

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I
)
# lxml refuses a str that carries an XML encoding declaration.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
# Pages with more elements skip trafilatura's boilerplate removal (the page body is read with
# menus, headers and footers skipped). Real briefing pages have a few thousand.
_TRAFILATURA_MAX_ELEMENTS = 30_000
# WHATWG: pages labelled Latin-1 are really windows-1252.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252"}


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Elements of trafilatura's XML output that hold a block of text.
_TRAFILATURA_BLOCKS = _tags("doc main comments head p list item quote code table row cell")
_HTML_BLOCKS = _tags(
    "address article aside blockquote body dd div dl dt figcaption figure form h1 h2 h3 h4 "
    "h5 h6 li main ol p pre section table td th tr ul"
)
# Never body text: code, styling and page chrome.
_HTML_SKIP = _tags(
    "script style noscript template nav header footer svg iframe object canvas select "
    "button head title"
)


def read_html(data: bytes, name: str) -> str:
    """Main text of an HTML page, paragraphs separated by blank lines."""
    text = clean(decode(data, name, declared=_declared_charset(data)))
    text = _XML_DECLARATION.sub("", text, count=1)
    if not text.strip():
        return ""
    root, too_deep = _parse_tree(text, name)
    if too_deep:
        # libxml2 drops everything below depth 256 from a tree (trafilatura's too), so a
        # page nested deeper is read as a stream of tags, which has no depth limit.
        log.info("%s: HTML nested deeper than the tree parser allows; streaming it", name)
        paragraphs = _streamed(text, name)
    elif _has_more_elements(root, _TRAFILATURA_MAX_ELEMENTS):
        # trafilatura is linear but costs ~25 µs an element: 400 KB of "<p>" took 3 s.
        log.info("%s: over %d elements; reading the page body", name, _TRAFILATURA_MAX_ELEMENTS)
        paragraphs = _with_lxml(root)
    else:
        paragraphs = _with_trafilatura(text, name) or _with_lxml(root)
    return "\n\n".join(paragraphs)


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if not match:
        return None
    label = match.group(1).decode("ascii").lower()
    if label.startswith(("utf-16", "utf16", "utf-32", "utf32")):
        # A label read from ASCII bytes cannot be right (WHATWG treats it as UTF-8).
        return None
    return _CHARSET_ALIASES.get(label, label)


def _with_trafilatura(html: str, name: str) -> list[str]:
    # Imported here: trafilatura takes a noticeable time to import.
    import trafilatura
    from lxml import etree

    try:
        xml = trafilatura.extract(
            html,
            include_comments=False,
            include_tables=False,
            favor_recall=True,
            # XML rather than plain text so that <br> and paragraph ends stay distinct.
            output_format="xml",
        )
        if not xml:
            return []
        root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False))
        return _paragraphs(root, _TRAFILATURA_BLOCKS, {"lb"}, frozenset())
    except Exception as exc:  # any failure here still leaves the plain lxml route
        log.debug("%s: trafilatura failed (%r), using the page body", name, exc)
        return []


def _parse_tree(html: str, name: str) -> tuple[Any, bool]:
    """The page as an lxml tree, and whether libxml2 cut it at its nesting limit."""
    import lxml.html

    parser = lxml.html.HTMLParser()
    try:
        root = lxml.html.document_fromstring(html, parser=parser)
    except Exception as exc:  # lxml rejects some malformed input outright
        raise fail(name, f"cannot parse the HTML ({type(exc).__name__})") from exc
    too_deep = any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log)
    return root, too_deep


def _has_more_elements(root: Any, limit: int) -> bool:
    return sum(1 for _ in islice(root.iter(), limit + 1)) > limit


def _with_lxml(root: Any) -> list[str]:
    """Fallback for pages trafilatura finds no article in (short or unusual pages)."""
    body = root.find("body")
    return _paragraphs(body if body is not None else root, _HTML_BLOCKS, {"br"}, _HTML_SKIP)


def _streamed(html: str, name: str) -> list[str]:
    """Block texts from libxml2's event stream (no tree, so no depth limit)."""
    from lxml import etree

    target = _StreamedText()
    parser = etree.HTMLParser(target=target, huge_tree=True, no_network=True)
    try:
        parser.feed(html)
        parser.close()
    except Exception as exc:  # malformed input that libxml2 refuses outright
        raise fail(name, f"cannot parse the HTML ({type(exc).__name__})") from exc
    return target.paragraphs()


class _StreamedText:
    """lxml parser target: the text of block elements outside scripts, styles and chrome."""

    def __init__(self) -> None:
        self._out: list[str] = []
        self._current: list[str] = []
        self._skipping = 0

    def start(self, tag: str, attrib: object) -> None:
        tag = tag.lower()
        if tag in _HTML_SKIP:
            self._skipping += 1
        elif tag in _HTML_BLOCKS:
            self._flush()
        elif tag == "br" and not self._skipping:
            self._current.append("\n")

    def end(self, tag: str) -> None:
        tag = tag.lower()
        if tag in _HTML_SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _HTML_BLOCKS:
            self._flush()

    def data(self, text: str) -> None:
        if not self._skipping:
            self._current.append(_spaces(text))

    def close(self) -> None:
        self._flush()

    def paragraphs(self) -> list[str]:
        self._flush()
        return self._out

    def _flush(self) -> None:
        text = tidy("".join(self._current)).strip()
        self._current.clear()
        if text:
            self._out.append(text)


def _paragraphs(
    root: Any, blocks: frozenset[str], breaks: Iterable[str], skip: frozenset[str]
) -> list[str]:
    """Text of each block element, inline markup flattened, line breaks kept as \\n."""
    out: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = tidy("".join(current)).strip()
        current.clear()
        if text:
            out.append(text)

    def visit(el: Any) -> None:
        # Comments and processing instructions have a non-str tag: only their tail counts.
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag and tag not in skip:
            if tag in blocks:
                flush()
            if tag in breaks:
                current.append("\n")
            else:
                current.append(_spaces(el.text))
                for child in el:
                    visit(child)
            if tag in blocks:
                flush()
        current.append(_spaces(el.tail))

    visit(root)
    flush()
    return out


def _spaces(text: str | None) -> str:
    # Newlines in HTML source are just spaces; only <br> breaks a line.
    return text.replace("\n", " ") if text else ""
