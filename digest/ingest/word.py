"""DOCX: body paragraphs and table cells in document order.

A DOCX is a ZIP archive whose sizes may lie, so nothing here trusts them: only
``word/document.xml`` is read, inflated as a stream under a byte budget, and parsed
incrementally (lxml iterparse), each element freed once seen. Memory stays bounded by the
nesting depth and one paragraph, time by the budget. python-docx is not used for reading: it
loads every part whole and builds table grids from declared spans.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from digest.ingest.encoding import fail

BODY_PART = "word/document.xml"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PARAGRAPH = f"{_W}p"
_TEXT = f"{_W}t"
# Elements that stand for a character inside a run.
_CHARACTERS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}
# Markup-compatibility fallbacks repeat their Choice (text boxes): read one of them only.
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_CHUNK = 64 * 1024


class _OverBudget(Exception):
    """The part inflated past the byte budget."""


def read_docx(data: bytes, name: str, max_xml_bytes: int) -> str:
    """Paragraph texts (each table cell's paragraphs too), separated by blank lines."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        # .doc (Word 97-2003) files renamed to .docx land here too.
        raise fail(name, "not a valid .docx file (not a ZIP archive)") from exc
    with archive:
        try:
            info = archive.getinfo(BODY_PART)
        except KeyError as exc:
            raise fail(name, f"not a valid .docx file (no {BODY_PART})") from exc
        try:
            with archive.open(info) as member:
                paragraphs = list(_paragraphs(_Budgeted(member, max_xml_bytes)))
        except _OverBudget as exc:
            raise fail(
                name,
                f"{BODY_PART} unpacks to more than {max_xml_bytes / 1e6:.1f} MB, the limit for "
                "a document's text (ingest.max_docx_xml_bytes)",
            ) from exc
        except Exception as exc:  # bad CRC, bad deflate data, encryption, malformed XML
            limit = _parser_limit(str(exc))
            if limit:
                raise fail(name, f"{BODY_PART} {limit}") from exc
            reason = _reason(exc)
            raise fail(name, f"cannot read the .docx file, it may be damaged ({reason})") from exc
    return "\n\n".join(paragraphs)


class _Budgeted(io.RawIOBase):
    """A read-only stream that fails once more than ``budget`` bytes have been read.

    The ZIP member inflates only as much as each read asks for, so a bomb is stopped after
    ``budget`` bytes of output whatever its header declares.
    """

    def __init__(self, stream: Any, budget: int) -> None:
        super().__init__()
        self._stream = stream
        self._left = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = _CHUNK if size is None or size < 0 else min(size, _CHUNK)
        chunk: bytes = self._stream.read(size)
        self._left -= len(chunk)
        if self._left < 0:
            raise _OverBudget
        return chunk


def _paragraphs(source: _Budgeted) -> Iterator[str]:
    """Non-empty paragraph texts in document order, from a stream of WordprocessingML."""
    from lxml import etree  # imported here: only DOCX needs it

    events: Iterable[tuple[str, Any]] = etree.iterparse(
        source,
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,  # keeps libxml2's depth and text-node limits
    )
    open_paragraphs: list[list[str]] = []
    skipped = 0
    for event, element in events:
        tag = element.tag
        if event == "start":
            if tag == _FALLBACK:
                skipped += 1
            elif tag == _PARAGRAPH and not skipped:
                open_paragraphs.append([])
            continue
        if tag == _FALLBACK:
            skipped -= 1
        elif skipped or not open_paragraphs:
            pass
        elif tag == _TEXT:
            open_paragraphs[-1].append(element.text or "")
        elif tag in _CHARACTERS:
            open_paragraphs[-1].append(_CHARACTERS[tag])
        elif tag == _PARAGRAPH:
            # A text box's paragraphs sit inside a run of their anchor paragraph: each is
            # its own paragraph, given before the one it is anchored in.
            text = "".join(open_paragraphs.pop())
            if text.strip():
                yield text
        _free(element)


def _free(element: Any) -> None:
    """Drop a finished element's content and its finished earlier siblings."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _parser_limit(error: str) -> str | None:
    """The libxml2 limit (kept on: huge_tree=False) that an XML error reports, if any."""
    if "Excessive depth" in error:
        return "is nested more than 256 levels deep, the XML parser's limit"
    if "Text node too long" in error or "huge text node" in error.lower():
        return "holds a run of text over 10 MB, the XML parser's limit"
    return None


def _reason(exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return reason if len(reason) <= 120 else reason[:117] + "..."
