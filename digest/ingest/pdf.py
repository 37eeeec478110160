"""PDF: the text layer, with line wrapping and hyphenation at line ends undone."""

from __future__ import annotations

import io
import logging
import re

from digest.errors import IngestError
from digest.ingest.encoding import clean, fail

log = logging.getLogger(__name__)

NO_TEXT_LAYER = "PDF has no text layer (scanned image?); run OCR first"

# A line shorter than this share of the page's longest line ends a paragraph: wrapped lines
# fill the column, last lines of paragraphs, headings and list items do not.
_SHORT_LINE = 0.75
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:/|of)\s*\d{1,4})?$", re.I
)
# \b: a match can start only where a word starts, so a long run of letters is scanned once
# (without it, every letter of a 20,000-letter "word" started a scan: 6 s, quadratic).
_HYPHENATED = re.compile(r"\b(\w+)-(\w+)")
_WORD_BEFORE_HYPHEN = re.compile(r"\b(\w+)-$")
_WORD_AT_START = re.compile(r"^(\w+)")
# Ends of a sentence or clause after which a new page starts a new paragraph.
_CLOSED = tuple(".!?…:;\"'»”)]")


def read_pdf(data: bytes, name: str) -> str:
    """Text of every page, paragraphs separated by blank lines."""
    pages = _extract_pages(data, name)
    text = unwrap_pages(pages)
    if not text.strip():
        raise fail(name, NO_TEXT_LAYER)
    return text


def _extract_pages(data: bytes, name: str) -> list[str]:
    # Checked first: pypdf would log warnings for every kind of non-PDF before failing.
    if b"%PDF-" not in data[:1024]:
        raise fail(name, "not a PDF file (no %PDF header)")
    # Imported here: only PDFs need it.
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader, name)
        count = len(reader.pages)
    except IngestError:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise fail(name, f"cannot read the PDF, the file may be damaged ({_reason(exc)})") from exc
    if count == 0:
        raise fail(name, "PDF has no pages")
    pages: list[str] = []
    failures: list[Exception] = []
    for number in range(count):
        try:
            pages.append(reader.pages[number].extract_text() or "")
        except Exception as exc:  # one bad page should not lose the rest of the document
            log.warning("%s: cannot extract page %d: %r", name, number + 1, exc)
            failures.append(exc)
    if len(failures) == count:
        reason = _reason(failures[0])
        raise fail(name, f"cannot read the PDF, the file may be damaged ({reason})")
    return pages


def _decrypt(reader: object, name: str) -> None:
    # Many PDFs are "encrypted" with an empty user password only to restrict printing.
    try:
        ok = reader.decrypt("")  # type: ignore[attr-defined]
    except Exception as exc:  # e.g. AES without the optional cryptography package
        raise fail(name, f"PDF is encrypted and cannot be opened ({_reason(exc)})") from exc
    if not ok:
        raise fail(name, "PDF is password-protected")


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def unwrap_pages(pages: list[str]) -> str:
    """Join the pages' lines into paragraphs; paragraphs separated by blank lines."""
    pages = [clean(page).replace("\u00ad\n", "").replace("\u00ad", "") for page in pages]
    # Hyphenated words seen whole on one line decide whether a hyphen at a line end is part
    # of the word ("co-operation") or only hyphenation ("negoti-ations").
    seen = {f"{a}-{b}".lower() for page in pages for a, b in _HYPHENATED.findall(page)}
    paragraphs: list[str] = []
    for page in pages:
        page_paragraphs = _unwrap(_drop_page_numbers(page.split("\n")), seen)
        if paragraphs and page_paragraphs and _continues(paragraphs[-1], page_paragraphs[0]):
            paragraphs[-1] = _join(paragraphs[-1], page_paragraphs.pop(0), seen)
        paragraphs.extend(page_paragraphs)
    return "\n\n".join(paragraphs)


def _drop_page_numbers(lines: list[str]) -> list[str]:
    lines = [" ".join(line.split()) for line in lines]
    filled = [i for i, line in enumerate(lines) if line]
    for i in filled[:1] + filled[-1:]:
        if _PAGE_NUMBER.match(lines[i]):
            lines[i] = ""
    return lines


def _unwrap(lines: list[str], seen: set[str]) -> list[str]:
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = _join(current, line, seen) if current else line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        short = len(line) < _SHORT_LINE * width
        # A short line ends its paragraph unless the next one plainly continues the sentence
        # or the line ends in a word broken by a hyphen.
        if short and not following[:1].islower() and not _WORD_BEFORE_HYPHEN.search(line):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _join(left: str, right: str, seen: set[str]) -> str:
    """Join two wrapped lines: a space, or nothing after a hyphen at the line end."""
    before = _WORD_BEFORE_HYPHEN.search(left)
    after = _WORD_AT_START.match(right)
    if before and after:
        # Drop the hyphen only before a lower-case continuation ("Indo-Pacific", "2023-2024"
        # keep theirs) and when the document never writes the word with a hyphen.
        whole = f"{before.group(1)}-{after.group(1)}".lower()
        if right[0].islower() and before.group(1)[-1].isalpha() and whole not in seen:
            return left[:-1] + right
        return left + right
    return f"{left} {right}"


def _continues(previous: str, following: str) -> bool:
    """A paragraph cut by a page break: no closing punctuation, then lower case."""
    return not previous.endswith(_CLOSED) and following[:1].islower()
