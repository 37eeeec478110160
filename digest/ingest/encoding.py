"""Bytes to clean text: encoding detection, binary detection and character clean-up."""

from __future__ import annotations

import codecs
import contextlib
import contextvars
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

from digest.errors import IngestError

log = logging.getLogger(__name__)

# Longest first where prefixes overlap: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Signatures of common binary formats that users rename or upload by mistake. Only ones
# that a real text file cannot plausibly start with.
_BINARY_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"PK\x03\x04",  # ZIP, and so DOCX/XLSX/ODT/EPUB
    b"PK\x05\x06",
    b"\x7fELF",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"%PDF-",
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE: .doc, .xls, .msg
    b"\x00asm",
    b"\xcf\xfa\xed\xfe",  # Mach-O
)

# C0/C1 control characters other than the whitespace ones; text has almost none of them.
_CONTROLS = frozenset(
    chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\t\n\r\f\v"
)
_DROP_CONTROLS = {ord(c): None for c in _CONTROLS}

# Clean-up applied to every decoded text: line and page separators become newlines, other
# control characters and stray BOMs (U+FEFF inside text) go.
_CLEAN_TABLE: dict[int, str | None] = {
    **_DROP_CONTROLS,
    0x0B: "\n",  # vertical tab: a line break in some exports
    0x0C: "\n\n",  # form feed: a page break
    0x85: "\n",  # NEL
    0x2028: "\n",  # LINE SEPARATOR
    0x2029: "\n\n",  # PARAGRAPH SEPARATOR
    0xFEFF: None,
}
_CRLF = re.compile(r"\r\n?")
_MANY_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_INLINE_SPACE = re.compile(r"[ \t\u00a0]+")


def one_line(message: str) -> str:
    """Messages are shown on one line even when a file name holds newlines."""
    return " ".join(message.split())


def fail(name: str, reason: str) -> IngestError:
    """The error for an unreadable input: names it, says why, on one line."""
    return IngestError(one_line(f"{name}: {reason}"))


def has_binary_magic(data: bytes) -> bool:
    """True if the bytes start like an image, archive, executable or PDF."""
    # MP4/MOV/HEIC keep their signature at offset 4.
    return data.startswith(_BINARY_MAGIC) or data[4:8] == b"ftyp"


def looks_binary(text: str) -> bool:
    """True if decoded text holds more control characters than any real text would."""
    if not text:
        return False
    nuls = text.count("\x00")
    controls = len(text) - len(text.translate(_DROP_CONTROLS))
    # Text never holds NUL; a stray one in a long file is corruption, many mean binary.
    # Other controls (ESC in logs, SUB at DOS end-of-file) are tolerated up to a few percent.
    return nuls > len(text) // 1000 or controls > len(text) * 0.05


# Encodings guessed for part of a file while it is read (see ``assumed_encodings``).
_ASSUMED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "assumed_encodings", default=None
)


@contextlib.contextmanager
def assumed_encodings() -> Iterator[list[str]]:
    """Collect the legacy encodings that ``decode`` guesses for mixed files in this block,
    so that the reader of one input can tell its user, without threading it through every
    format's reader."""
    found: list[str] = []
    token = _ASSUMED.set(found)
    try:
        yield found
    finally:
        _ASSUMED.reset(token)


def decode(data: bytes, name: str, declared: str | None = None) -> str:
    """Decode text of unknown encoding; IngestError if it is binary or undecodable.

    Order: a BOM; strict UTF-8 (most files, and unambiguous); UTF-16/32 without a BOM; the
    ``declared`` encoding (an HTML meta charset) if any; then charset-normalizer for legacy
    code pages (windows-1251, KOI8-R...).
    """
    if has_binary_magic(data):
        raise fail(name, "looks like binary data, not text")
    text = _decode(data, name, declared)
    if looks_binary(text):
        raise fail(name, "looks like binary data, not text")
    return text


def _decode(data: bytes, name: str, declared: str | None) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                # A BOM followed by something else: let the detector have a go.
                break
    try:
        utf8: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    if utf8 is not None and not looks_binary(utf8):
        return utf8
    # Text in UTF-16/32 without a BOM is often valid UTF-8 too (ASCII with NULs, Cyrillic as
    # \x04 bytes), so it is tried when UTF-8 fails or yields control characters.
    wide = _decode_wide(data)
    if wide is not None:
        return wide
    if utf8 is not None:
        return utf8  # binary: the caller says so
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.debug("%s: declared encoding %r does not fit, detecting", name, declared)
    mixed = _decode_mixed(data, name)
    if mixed is not None:
        return mixed
    encoding, text = _detect(data, name)
    if encoding is None or text is None:
        if looks_binary(data.decode("latin-1")):
            raise fail(name, "looks like binary data, not text")
        raise fail(name, "cannot decode the text (unknown character encoding)")
    log.debug("%s: detected encoding %s", name, encoding)
    return text


def _detect(data: bytes, name: str) -> tuple[str | None, str | None]:
    """(encoding, text) from charset-normalizer, or (None, None) if it finds none."""
    # Imported here: only legacy-encoded files need it.
    from charset_normalizer import from_bytes

    try:
        best = from_bytes(data).best()
        return (None, None) if best is None else (best.encoding, str(best))
    except Exception as exc:  # the detector must never turn bad input into a crash
        log.debug("charset-normalizer failed on %s: %r", name, exc)
        return None, None


def _decode_mixed(data: bytes, name: str) -> str | None:
    """Text whose lines are partly UTF-8 and partly one legacy code page (files pasted
    together from two sources): each invalid UTF-8 byte is decoded with the code page
    detected on the lines that are not UTF-8. None if the file is not such a mix.
    """
    lines = data.split(b"\n")
    bad = [line for line in lines if not _is_utf8(line)]
    if not any(not line.isascii() and _is_utf8(line) for line in lines):
        return None  # no UTF-8 beyond ASCII: a file in one legacy encoding
    encoding, _ = _detect(b"\n".join(bad), name)
    if encoding is None or encoding.startswith(("utf", "ascii")):
        return None
    text = data.decode("utf-8", errors=_legacy_error_handler(encoding))
    collected = _ASSUMED.get()
    if collected is not None:
        collected.append(encoding)
    # Said on one line where the user sees warnings (the CLI's stderr): the guess may be wrong.
    log.warning(
        "%s: mixed encodings: %d of %d lines are not UTF-8 and were decoded as %s",
        one_line(name),
        len(bad),
        len(lines),
        encoding,
    )
    return text


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _legacy_error_handler(encoding: str) -> str:
    """Name of a codec error handler that decodes invalid UTF-8 bytes with ``encoding``.

    An error handler keeps the decoding one linear pass, however many bytes are invalid.
    """
    handler_name = f"briefing-digest-as-{encoding}"
    try:
        codecs.lookup_error(handler_name)
    except LookupError:

        def decode_as_legacy(exc: UnicodeError) -> tuple[str, int]:
            if not isinstance(exc, UnicodeDecodeError):
                raise exc
            chunk = exc.object[exc.start : exc.end]
            return chunk.decode(encoding, errors="replace"), exc.end

        codecs.register_error(handler_name, decode_as_legacy)
    return handler_name


def _decode_wide(data: bytes) -> str | None:
    """UTF-32 or UTF-16 without a BOM, recognised by their nearly constant high bytes.

    Text in one or two scripts (Cyrillic with ASCII spaces, Devanagari...) has one or two
    values in the high byte of every code unit: 0x00 and 0x04 for Russian, for instance.
    """
    sample = data[:65536]
    for codec, width, high in (
        ("utf-32-le", 4, 2),
        ("utf-32-be", 4, 1),
        ("utf-16-le", 2, 1),
        ("utf-16-be", 2, 0),
    ):
        if len(data) % width or len(sample) < width:
            continue
        units = len(sample) // width
        common = Counter(sample[high::width]).most_common(2)
        if width == 4 and sample[3 if codec.endswith("le") else 0 :: width].count(0) < units:
            continue  # the top byte of UTF-32 is always zero
        if sum(count for _, count in common) < 0.9 * units:
            continue
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if not looks_binary(text):
            return text
    return None


def clean(text: str) -> str:
    """Newlines to \\n, control characters other than \\n and \\t removed."""
    return _CRLF.sub("\n", text).translate(_CLEAN_TABLE)


def tidy(text: str) -> str:
    """Collapse runs of spaces, strip line ends, keep at most one blank line between blocks.

    For text pulled out of markup (HTML, PDF, DOCX, subtitles), where layout whitespace is
    noise; plain text files are left as written.
    """
    lines = (_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_BLANK_LINES.sub("\n\n", "\n".join(lines))


def finish(text: str, name: str, empty_reason: str = "file is empty") -> str:
    """Final clean-up shared by all formats: NFC, no edge whitespace, never empty."""
    text = clean(text).strip()
    if not text:
        raise fail(name, empty_reason)
    # NFC last: removing characters above can leave a combining mark after a new base.
    return unicodedata.normalize("NFC", text)
