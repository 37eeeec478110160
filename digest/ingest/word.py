"""DOCX: body paragraphs and table cells in document order."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from digest.ingest.encoding import fail

# A DOCX is a ZIP archive: refuse one that unpacks to far more than any real document
# would (a "zip bomb"), before python-docx loads its parts into memory.
_MAX_UNPACKED_RATIO = 20
_MIN_UNPACKED_LIMIT = 100_000_000


def read_docx(data: bytes, name: str, max_bytes: int) -> str:
    """Paragraph texts, each table cell as its own paragraph, separated by blank lines."""
    _check_archive(data, name, max_bytes)
    # Imported here: only DOCX files need it.
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [text for text in _texts(document) if text.strip()]
    except Exception as exc:  # python-docx/lxml errors on damaged or non-Word archives
        reason = str(exc).strip() or type(exc).__name__
        raise fail(name, f"cannot read the .docx file, it may be damaged ({reason})") from exc
    return "\n\n".join(paragraphs)


def _check_archive(data: bytes, name: str, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            has_body = "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        # .doc (Word 97-2003) files renamed to .docx land here too.
        raise fail(name, "not a valid .docx file (not a ZIP archive)") from exc
    if not has_body:
        raise fail(name, "not a valid .docx file (no word/document.xml)")
    limit = max(_MAX_UNPACKED_RATIO * max_bytes, _MIN_UNPACKED_LIMIT)
    if unpacked > limit:
        raise fail(name, f".docx unpacks to {unpacked / 1e6:.1f} MB, too large to read")


def _texts(container: Any) -> Iterator[str]:
    """Paragraph texts of a document or table cell; tables are walked cell by cell."""
    for block in container.iter_inner_content():
        if hasattr(block, "rows"):
            # A merged cell is returned once per grid position it spans. The set holds the
            # XML elements themselves (lxml gives one proxy per live element).
            seen: set[Any] = set()
            for row in block.rows:
                for cell in row.cells:
                    if cell._tc in seen:
                        continue
                    seen.add(cell._tc)
                    yield from _texts(cell)
        else:
            yield block.text
