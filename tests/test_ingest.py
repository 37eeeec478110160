"""Tests for digest.ingest: every format, encodings, every error case, and fuzzing."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from digest.errors import IngestError
from digest.ingest import SUPPORTED_EXTENSIONS, read_bytes, read_path, read_stdin
from digest.model import Document

LIMIT = 10_000_000
ROOT = Path(__file__).resolve().parents[1]

RUSSIAN = (
    "Министр иностранных дел провёл переговоры с коллегами из соседних стран.\n"
    "Стороны обсудили вопросы торговли, энергетики и безопасности в регионе.\n"
    "По итогам встречи подписано совместное заявление о сотрудничестве.\n"
    "Следующий раунд консультаций состоится в Москве в конце года."
)
HINDI = "विदेश मंत्री ने पड़ोसी देशों के समकक्षों से मुलाकात की।\nदोनों पक्षों ने व्यापार और ऊर्जा पर चर्चा की।"
ENGLISH = (
    "Good afternoon, friends. Thank you for joining this weekly briefing.\n"
    "The minister will travel to Moscow next week."
)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def error_of(call, *args) -> str:
    with pytest.raises(IngestError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- plain text and encodings ---------------------------------------------------------


def test_plain_text_utf8(tmp_path: Path) -> None:
    doc = read_path(write(tmp_path, "brief.txt", ENGLISH.encode()), LIMIT)
    assert doc == Document(name="brief.txt", text=ENGLISH, format="txt")


@pytest.mark.parametrize("text", [ENGLISH, RUSSIAN, HINDI])
@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"]
)
def test_unicode_encodings(tmp_path: Path, text: str, encoding: str) -> None:
    data = text.encode(encoding)
    if encoding in {"utf-16-le", "utf-16-be"}:
        # Without a BOM: left to detection.
        assert not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    elif encoding == "utf-32-be":
        data = b"\x00\x00\xfe\xff" + data
    assert read_path(write(tmp_path, "a.txt", data), LIMIT).text == text


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "utf-16-le", "utf-16-be"])
def test_russian_legacy_encodings(tmp_path: Path, encoding: str) -> None:
    doc = read_path(write(tmp_path, "ru.txt", RUSSIAN.encode(encoding)), LIMIT)
    assert doc.text == RUSSIAN


def test_newlines_nfc_and_control_characters(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Café déjà vu, ёлка и йод")
    data = f"\ufeff  {nfd}\r\nline two\x07\rthree\tcol\x1b\n\n".encode()
    text = read_path(write(tmp_path, "a.txt", data), LIMIT).text
    assert text == "Café déjà vu, ёлка и йод\nline two\nthree\tcol"
    assert unicodedata.is_normalized("NFC", text)


def test_hindi_combining_marks_survive(tmp_path: Path) -> None:
    # Zero-width joiners and nuktas are part of Devanagari spelling, not noise.
    text = "क्‍ष ड़ ज़्यादा"
    assert read_path(write(tmp_path, "hi.txt", text.encode()), LIMIT).text == text


def test_markdown_markup_removed(tmp_path: Path) -> None:
    md = (
        "# Weekly briefing #\n\n"
        "The **minister** met *colleagues* and _partners_; see [the statement](https://x.org/s)"
        " and ![photo](p.png) and `code`.\n\n"
        "- first point\n* second point\n\n"
        "> quoted snake_case_name\n\n"
        "---\n\n"
        "```python\nprint('**kept**')\n```\n\n"
        "[ref]: https://example.org\n"
    )
    doc = read_path(write(tmp_path, "notes.md", md.encode()), LIMIT)
    assert doc.format == "md"
    assert doc.text == (
        "Weekly briefing\n\n"
        "The minister met colleagues and partners; see the statement and photo and code.\n\n"
        # CommonMark: a change of bullet character starts another list.
        "first point\n\nsecond point\n\n"
        "quoted snake_case_name\n\n"
        "print('**kept**')"
    )


def test_markdown_tables_html_and_front_matter() -> None:
    md = (
        "---\ntitle: front matter is metadata\n---\n\n"
        "- one\n- two\n\n"
        "<!-- an editor's note -->\n\n"
        "<div>\nRaw &amp; <b>HTML</b> text\n</div>\n\n"
        "| Country | Outcome |\n|---|---|\n| India | signed |\n\n"
        "Words with a footnote[^1] and ~~struck~~ text.\n\n[^1]: The note.\n"
    )
    assert read_bytes(md.encode(), "a.md", LIMIT).text == (
        "one\ntwo\n\n"
        "Raw & HTML text\n\n"
        "Country Outcome\nIndia signed\n\n"
        "Words with a footnote and struck text.\n\n"
        "The note."
    )


# --- HTML -------------------------------------------------------------------------------

ARTICLE = [
    "Good afternoon, friends. Thank you for joining this weekly briefing. I have a few "
    "announcements to make before taking your questions.",
    "The External Affairs Minister will travel to Moscow next week for consultations with his "
    "counterpart. The two sides will review bilateral trade, energy cooperation and "
    "connectivity projects.",
    "On the humanitarian situation, we have dispatched a second consignment of medicines and "
    "relief material. It reached the port on Monday and is being distributed.",
]


def page(paragraphs: list[str], charset: str = "utf-8") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><meta charset="{charset}"><title>Briefing</title>
<script>var tracking = "Contact Us";</script><style>p {{ color: red }}</style></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">Press Releases</a></li>
<li><a href="/contact">Contact Us</a></li></ul></nav></header>
<main><article><h1>Weekly media briefing by the Official Spokesperson</h1>
{body}
</article></main>
<footer><p>Copyright 2024 Ministry of External Affairs. All rights reserved.</p>
<a href="/privacy">Privacy Policy</a></footer></body></html>"""


@pytest.mark.parametrize("name", ["briefing.html", "briefing.htm"])
def test_html_article_without_boilerplate(tmp_path: Path, name: str) -> None:
    doc = read_path(write(tmp_path, name, page(ARTICLE).encode()), LIMIT)
    assert doc.format == "html"
    paragraphs = doc.text.split("\n\n")
    for paragraph in ARTICLE:
        assert paragraph in paragraphs
    for boilerplate in ("Home", "Press Releases", "Contact Us", "Copyright", "Privacy", "color"):
        assert boilerplate not in doc.text


def test_html_meta_charset_windows_1251(tmp_path: Path) -> None:
    paragraphs = RUSSIAN.split("\n")
    data = page(paragraphs, charset="windows-1251").encode("cp1251")
    text = read_path(write(tmp_path, "ru.html", data), LIMIT).text
    for paragraph in paragraphs:
        assert paragraph in text.split("\n\n")


def test_html_fallback_when_trafilatura_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "extract", lambda *args, **kwargs: None)
    html = page(["First paragraph of the\n   statement.", "Second<br>line."])
    text = read_path(write(tmp_path, "a.html", html.encode()), LIMIT).text
    assert text == (
        "Weekly media briefing by the Official Spokesperson\n\n"
        "First paragraph of the statement.\n\nSecond\nline."
    )


def test_html_short_fragment(tmp_path: Path) -> None:
    text = read_path(write(tmp_path, "a.html", b"<p>Hello</p><p>World</p>"), LIMIT).text
    assert text == "Hello\n\nWorld"


def test_html_without_text(tmp_path: Path) -> None:
    path = write(tmp_path, "a.html", b"<html><body><script>x()</script></body></html>")
    assert error_of(read_path, path, LIMIT) == f"{path}: no text found"


# --- PDF --------------------------------------------------------------------------------


def make_pdf(pages: list[list[str]], *, cells: bool = False) -> bytes:
    """A PDF whose pages hold paragraphs (wrapped by fpdf2), or single lines if ``cells``."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            if cells:
                pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(6)
    return bytes(pdf.output())


def test_pdf_paragraphs_unwrapped(tmp_path: Path) -> None:
    doc = read_path(write(tmp_path, "brief.pdf", make_pdf([ARTICLE])), LIMIT)
    assert doc.format == "pdf"
    assert doc.text == "\n\n".join(ARTICLE)


def test_pdf_hyphenation_joined(tmp_path: Path) -> None:
    lines = [
        "The two countries agreed to widen their negoti-",
        "ations on space research, and their co-",
        "operation on climate, in the Indo-",
        "Pacific region. The co-operation is old.",
    ]
    text = read_path(write(tmp_path, "a.pdf", make_pdf([lines], cells=True)), LIMIT).text
    assert text == (
        "The two countries agreed to widen their negotiations on space research, and their"
        " co-operation on climate, in the Indo-Pacific region. The co-operation is old."
    )


def test_pdf_pages_and_page_numbers(tmp_path: Path) -> None:
    pages = [
        ["Statement on the visit of the delegation", "and the talks that", "1"],
        ["followed in the capital.", "Page 2 of 2"],
    ]
    text = read_path(write(tmp_path, "a.pdf", make_pdf(pages, cells=True)), LIMIT).text
    assert (
        text
        == "Statement on the visit of the delegation and the talks that followed in the capital."
    )


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()  # empty page
    pdf.add_page()
    pdf.line(10, 10, 100, 100)  # a drawing only, as in a scan without OCR
    pdf.rect(20, 20, 50, 30)
    path = write(tmp_path, "scan.pdf", bytes(pdf.output()))
    assert error_of(read_path, path, LIMIT) == (
        f"{path}: PDF has no text layer (scanned image?); run OCR first"
    )


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nthis is not really a pdf\n", b"not a pdf at all", make_pdf([ARTICLE])[:400]],
    ids=["garbage", "no-header", "truncated"],
)
def test_pdf_corrupt(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "broken.pdf", data)
    message = error_of(read_path, path, LIMIT)
    assert message.startswith(f"{path}: ")
    assert "PDF" in message


# --- DOCX -------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Weekly briefing", level=1)
    document.add_paragraph(ARTICLE[0])
    document.add_paragraph("")  # empty paragraphs are dropped
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Country"
    table.cell(0, 1).text = "Outcome"
    merged = table.cell(1, 0).merge(table.cell(1, 1))
    merged.text = "Both sides signed the agreement."
    document.add_paragraph(ARTICLE[1])
    document.save(str(path))
    return path


def test_docx_paragraphs_and_tables(tmp_path: Path) -> None:
    doc = read_path(make_docx(tmp_path / "brief.docx"), LIMIT)
    assert doc.format == "docx"
    assert doc.text.split("\n\n") == [
        "Weekly briefing",
        ARTICLE[0],
        "Country",
        "Outcome",
        "Both sides signed the agreement.",
        ARTICLE[1],
    ]


def test_docx_corrupt(tmp_path: Path) -> None:
    good = make_docx(tmp_path / "good.docx").read_bytes()
    not_zip = write(tmp_path, "old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert error_of(read_path, not_zip, LIMIT) == (
        f"{not_zip}: not a valid .docx file (not a ZIP archive)"
    )
    truncated = write(tmp_path, "cut.docx", good[: len(good) // 2])
    assert error_of(read_path, truncated, LIMIT).startswith(f"{truncated}: ")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    other_zip = write(tmp_path, "other.docx", buffer.getvalue())
    assert "no word/document.xml" in error_of(read_path, other_zip, LIMIT)


DOCX_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    ' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>{}</w:body>'
    "</w:document>"
)


def docx_bytes(body: str, **members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", DOCX_XML.format(body))
        for name, data in members.items():
            archive.writestr(name.replace("__", "/"), data)
    return buffer.getvalue()


def test_docx_text_boxes_tabs_and_breaks_once() -> None:
    box = "<w:txbxContent><w:p><w:r><w:t>Boxed note.</w:t></w:r></w:p></w:txbxContent>"
    body = (
        "<w:p><w:r><w:t>Trade</w:t><w:tab/><w:t>grew</w:t><w:br/><w:t>by ten</w:t></w:r>"
        "<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"
        f"<w:r><mc:AlternateContent><mc:Choice>{box}</mc:Choice>"
        f"<mc:Fallback>{box}</mc:Fallback></mc:AlternateContent></w:r></w:p>"
    )
    text = read_bytes(docx_bytes(body), "a.docx", LIMIT).text
    assert text == "Boxed note.\n\nTrade\tgrew\nby ten"


def test_docx_other_parts_are_never_inflated() -> None:
    # A 30 MB member elsewhere in the archive (media, a bomb) is not read at all.
    data = docx_bytes(
        "<w:p><w:r><w:t>Text.</w:t></w:r></w:p>", word__media__blob_bin=b"\0" * 30_000_000
    )
    assert read_bytes(data, "a.docx", LIMIT).text == "Text."


def test_docx_xml_over_its_budget_is_refused() -> None:
    from settings.schema import IngestSettings

    body = "<w:p><w:r><w:t>word </w:t></w:r></w:p>" * 40_000  # 1.5 MB of XML
    limits = IngestSettings(max_docx_xml_bytes=1_000_000)
    assert error_of(read_bytes, docx_bytes(body), "big.docx", limits) == (
        "big.docx: word/document.xml unpacks to more than 1.0 MB, the limit for a document's "
        "text (ingest.max_docx_xml_bytes)"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<w:p>" * 300 + "</w:p>" * 300, "is nested more than 256 levels deep"),
        (
            "<w:p><w:r><w:t>" + "a" * 11_000_000 + "</w:t></w:r></w:p>",
            "holds a run of text over 10 MB",
        ),
    ],
)
def test_docx_xml_parser_limits_have_their_own_line(body: str, reason: str) -> None:
    assert error_of(read_bytes, docx_bytes(body), "odd.docx", LIMIT) == (
        f"odd.docx: word/document.xml {reason}, the XML parser's limit"
    )


def test_docx_header_lying_about_size_is_refused() -> None:
    data = bytearray(docx_bytes("<w:p><w:r><w:t>word </w:t></w:r></w:p>" * 2_000))
    # Declare 100 bytes in the local header (offset 22) and the central directory (24).
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at : at + 4] = (100).to_bytes(4, "little")
    message = error_of(read_bytes, bytes(data), "lie.docx", LIMIT)
    assert message.startswith("lie.docx: cannot read the .docx file, it may be damaged (")
    assert "CRC" in message


def test_extracted_text_over_its_limit_is_refused() -> None:
    from settings.schema import IngestSettings

    # 90 KB of DOCX-free plain text, but the point is the check on the text, not the file.
    body = "<w:p><w:r><w:t>" + "word " * 2_000 + "</w:t></w:r></w:p>"
    limits = IngestSettings(max_text_chars=5_000)
    assert error_of(read_bytes, docx_bytes(body), "long.docx", limits) == (
        "long.docx: the extracted text is 9,999 characters, over the 5,000-character limit "
        "(ingest.max_text_chars)"
    )
    assert error_of(read_bytes, b"word " * 2_000, "long.txt", limits).startswith(
        "long.txt: the extracted text is 9,999 characters"
    )
    assert read_bytes(b"word " * 999, "ok.txt", limits).text == ("word " * 999).strip()


def test_mixed_utf8_and_windows_1251(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = RUSSIAN.split("\n")
    data = "\n".join(lines[:2]).encode() + b"\n" + "\n".join(lines[2:]).encode("cp1251")
    path = write(tmp_path, "mixed.txt", data)
    with caplog.at_level("WARNING", logger="digest.ingest.encoding"):
        assert read_path(path, LIMIT).text == RUSSIAN
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: mixed encodings: 2 of 4 lines are not UTF-8 and were decoded as cp1251"
    ]


def test_html_nested_deeper_than_libxml2_allows(tmp_path: Path) -> None:
    for depth in (300, 5_000):
        html = (
            "<html><head><title>T</title><script>var x = 1;</script></head><body>"
            "<nav><a href='/'>Home</a></nav>"
            + "<div>" * depth
            + f"<p>{ARTICLE[1]}<br>{ARTICLE[2]}</p>"
            + "</div>" * depth
            + f"<p>{ARTICLE[0]}</p></body></html>"
        )
        text = read_path(write(tmp_path, "deep.html", html.encode()), LIMIT).text
        assert text == f"{ARTICLE[1]}\n{ARTICLE[2]}\n\n{ARTICLE[0]}"


# --- subtitles --------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:03,000
Good afternoon, <i>friends</i>.

2
00:00:03,500 --> 00:00:05,000
{\\an8}We will begin with
a few announcements

3
00:00:05,100 --> 00:00:07,000
about the visit.

4
00:00:09,000 --> 00:00:10,000
[APPLAUSE]

5
00:00:12,000 --> 00:00:14,000
Next topic is trade.
"""

VTT = """WEBVTT
Kind: captions
Language: en

NOTE this comment
spans two lines

STYLE
::cue { color: yellow }

intro
00:00.000 --> 00:02.000 align:start position:10%
<v Spokesperson>Good afternoon.</v>

00:02.000 --> 00:04.000
<v Spokesperson>Let me start with
the minister's <b>visit</b>.

00:04.000 --> 00:06.000
<v.loud Journalist Ivanov>What about &amp; trade?

00:06.000 --> 00:08.000
<v Spokesperson>Trade grew <00:06.500><c>by ten</c> per cent.
"""


def test_srt(tmp_path: Path) -> None:
    doc = read_path(write(tmp_path, "briefing.srt", SRT.encode()), LIMIT)
    assert doc.format == "srt"
    # Cues of one sentence are joined; the long pause after a sentence starts a paragraph.
    assert doc.text == (
        "Good afternoon, friends. We will begin with a few announcements about the visit."
        "\n\nNext topic is trade."
    )


def test_srt_windows_1251(tmp_path: Path) -> None:
    lines = RUSSIAN.split("\n")
    srt = "".join(
        f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i},900\n{line}\n\n" for i, line in enumerate(lines)
    )
    text = read_path(write(tmp_path, "ru.srt", srt.encode("cp1251")), LIMIT).text
    assert text == " ".join(lines)


def test_vtt_speakers(tmp_path: Path) -> None:
    doc = read_path(write(tmp_path, "briefing.vtt", VTT.encode()), LIMIT)
    assert doc.format == "vtt"
    assert doc.text == (
        "Spokesperson: Good afternoon. Let me start with the minister's visit.\n\n"
        "Journalist Ivanov: What about & trade?\n\n"
        "Spokesperson: Trade grew by ten per cent."
    )


def test_vtt_rolling_captions_deduplicated(tmp_path: Path) -> None:
    vtt = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nthe minister said\n\n"
        "00:00:02.000 --> 00:00:04.000\nthe minister said\nthat talks went well\n\n"
        "00:00:04.000 --> 00:00:06.000\nthat talks went well\nand will continue\n"
    )
    text = read_path(write(tmp_path, "yt.vtt", vtt.encode()), LIMIT).text
    assert text == "the minister said that talks went well and will continue"


def test_srt_without_cues(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.srt", b"Just some notes, no cues.\n")
    assert error_of(read_path, path, LIMIT) == (
        f"{path}: not a valid SubRip (.srt) file: it does not start with a cue number and a "
        "timing line"
    )


def test_subtitles_without_text(tmp_path: Path) -> None:
    path = write(tmp_path, "a.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.000\n[Music]\n")
    assert error_of(read_path, path, LIMIT) == f"{path}: no text found"


# --- errors -----------------------------------------------------------------------------


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    assert error_of(read_path, path, LIMIT) == f"{path}: file not found"


def test_directory(tmp_path: Path) -> None:
    assert error_of(read_path, tmp_path, LIMIT) == f"{tmp_path}: not a regular file (a directory)"


def test_fifo_without_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    # In a subprocess: on failure open() blocks forever, which the timeout turns into a failure.
    code = (
        "import sys; from pathlib import Path; from digest.errors import IngestError\n"
        "from digest.ingest import read_path\n"
        "try: read_path(Path(sys.argv[1]), 10_000_000)\n"
        "except IngestError as exc: print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(fifo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == f"{fifo}: not a regular file (a named pipe)"


def test_devices_and_sockets_are_refused(tmp_path: Path) -> None:
    import socket

    assert error_of(read_path, Path("/dev/zero"), LIMIT) == (
        "/dev/zero: not a regular file (a character device)"
    )
    link = tmp_path / "zero.txt"
    link.symlink_to("/dev/zero")
    assert error_of(read_path, link, LIMIT) == f"{link}: not a regular file (a character device)"
    path = tmp_path / "s.txt"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert error_of(read_path, path, LIMIT) == f"{path}: not a regular file (a socket)"


def test_file_swapped_for_a_fifo_after_stat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.ingest

    path = write(tmp_path, "a.txt", b"text")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real_open = os.open
    # The swap happens between stat() and open(): open() is pointed at the FIFO.
    monkeypatch.setattr(
        digest.ingest.os,
        "open",
        lambda p, flags, *a: real_open(fifo if p == path else p, flags, *a),
    )
    assert error_of(read_path, path, LIMIT) == f"{path}: not a regular file (a named pipe)"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", b"text")

    import digest.ingest

    real_open = os.open

    def refuse(target: object, flags: int, *args: object) -> int:
        if target == path:
            raise PermissionError(13, "Permission denied", str(target))
        return real_open(target, flags, *args)  # type: ignore[arg-type]

    # Root can read a chmod 000 file, so the refusal is simulated.
    monkeypatch.setattr(digest.ingest.os, "open", refuse)
    assert error_of(read_path, path, LIMIT) == f"{path}: permission denied"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads all")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.txt", b"text")
    path.chmod(0)
    try:
        assert error_of(read_path, path, LIMIT) == f"{path}: permission denied"
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.txt", b""),
        ("blank.txt", b" \n\t\r\n  "),
        ("bom.txt", b"\xff\xfe"),
        ("blank16.txt", "  \n \n".encode("utf-16")),
        ("empty.pdf", b""),
        ("empty.md", b"\n\n"),
    ],
)
def test_empty(tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path, name, data)
    assert error_of(read_path, path, LIMIT) == f"{path}: file is empty"


def test_too_large_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(50_000_000)  # sparse: instant, and no disk used

    def no_reading(self: Path, *args: object, **kwargs: object) -> None:
        raise AssertionError("a file over the limit must not be opened")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "open", no_reading)
        assert error_of(read_path, big, 10_000_000) == (
            f"{big}: file is 50.0 MB, over the 10.0 MB limit"
        )
    # The refusal leaves nothing behind: a good file reads normally afterwards.
    assert read_path(write(tmp_path, "ok.txt", b"fine"), 10_000_000).text == "fine"


def test_too_large_just_over_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"x" * 1_001)
    assert (
        error_of(read_path, path, 1_000)
        == f"{path}: file is 1,001 bytes, over the 1,000-byte limit"
    )


def test_too_large_bytes_and_stdin() -> None:
    data = b"x" * 2_500
    assert error_of(read_bytes, data, "up.txt", 1_000) == (
        "up.txt: file is 2,500 bytes, over the 1,000-byte limit"
    )
    assert error_of(read_bytes, b"x" * 3_000_000, "up.txt", 1_000_000) == (
        "up.txt: file is 3.0 MB, over the 1.0 MB limit"
    )
    assert error_of(read_stdin, io.BytesIO(data), 1_000) == (
        "<stdin>: input is over the 1,000-byte limit"
    )
    assert error_of(read_stdin, io.BytesIO(b"x" * 3_000_000), 1_000_000) == (
        "<stdin>: input is over the 1.0 MB limit"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        b"PK\x03\x04" + b"\x14\x00" * 20,
        b"\x7fELF\x02\x01\x01" + b"\x00" * 50,
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        b"text\x00\x00\x00\x00 with \x00\x00 NULs \x00\x00\x00",
        random.Random(7).randbytes(4_000),
        b"\x01\x02\x03\x04\x05 abc \x06\x07\x08\x0e\x0f\x10\x11",
    ],
    ids=["png", "zip", "elf", "pdf", "nuls", "random", "controls"],
)
def test_binary_data(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "notes.txt", data)
    assert error_of(read_path, path, LIMIT) == f"{path}: looks like binary data, not text"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "sheet.xyz", b"text")
    supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
    assert error_of(read_path, path, LIMIT) == (
        f"{path}: unsupported file type .xyz (supported: {supported})"
    )
    assert "unsupported file type .doc " in error_of(read_bytes, b"x", "old.doc", LIMIT)


def test_undecodable_text(tmp_path: Path) -> None:
    # High Latin-1 bytes in no pattern any encoding explains: not binary, not decodable.
    rng = random.Random(3)
    data = bytes(rng.randrange(0xA0, 0x100) for _ in range(300))
    path = write(tmp_path, "odd.txt", data)
    assert error_of(read_path, path, LIMIT) == (
        f"{path}: cannot decode the text (unknown character encoding)"
    )


def test_library_errors_are_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    import digest.ingest.plain

    def broken(data: bytes, name: str) -> str:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(digest.ingest.plain, "read_text", broken)
    assert error_of(read_bytes, b"hello", "a.txt", LIMIT) == (
        "a.txt: cannot read the file (RuntimeError: parser bug)"
    )


def test_file_name_with_newline_stays_one_line() -> None:
    assert error_of(read_bytes, b"", "evil\nname.txt", LIMIT) == "evil name.txt: file is empty"


# --- read_bytes and read_stdin ----------------------------------------------------------


def test_read_bytes_formats() -> None:
    assert read_bytes(b"plain", "upload", LIMIT) == Document("upload", "plain", "txt")
    assert read_bytes(b"# Head", "dir/NOTES.MD", LIMIT).text == "Head"
    assert read_bytes(SRT.encode(), "cues.srt", LIMIT).format == "srt"
    assert read_bytes(make_pdf([ARTICLE]), "b.PDF", LIMIT).text == "\n\n".join(ARTICLE)


def test_read_stdin() -> None:
    doc = read_stdin(io.BytesIO(RUSSIAN.encode("koi8_r")), LIMIT)
    assert doc == Document("<stdin>", RUSSIAN, "txt")
    assert error_of(read_stdin, io.BytesIO(b""), LIMIT) == "<stdin>: file is empty"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (make_pdf([ARTICLE]), "pdf"),
        (page(ARTICLE).encode(), "html"),
        (VTT.encode(), "vtt"),
        (SRT.encode(), "srt"),
        (b"just text", "txt"),
    ],
)
def test_read_stdin_recognises_format(data: bytes, fmt: str) -> None:
    assert read_stdin(io.BytesIO(data), LIMIT).format == fmt


def test_read_stdin_docx(tmp_path: Path) -> None:
    data = make_docx(tmp_path / "a.docx").read_bytes()
    assert read_stdin(io.BytesIO(data), LIMIT).format == "docx"


def test_read_stdin_text_stream() -> None:
    stream = io.TextIOWrapper(io.BytesIO(ENGLISH.encode()), encoding="utf-8")
    assert read_stdin(stream, LIMIT).text == ENGLISH  # type: ignore[arg-type]


# --- property-based fuzzing -------------------------------------------------------------

TEXT_EXTENSIONS = [".txt", ".md", ".srt", ".vtt", ".html"]
CYRILLIC = st.characters(min_codepoint=0x410, max_codepoint=0x44F)

fuzz_bytes = st.one_of(
    st.binary(max_size=2_000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(alphabet=st.one_of(CYRILLIC, st.sampled_from(" .,\n")), max_size=300).map(
        lambda t: t.encode("cp1251")
    ),
    st.text(max_size=300).map(lambda t: t.encode("utf-16-le", "surrogatepass")),
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "-->",
                "00:01.000",
                "\n\n",
                "WEBVTT",
                "<v A>",
                "**",
                "[x](y)",
                "word",
                "слово",
                "\x00",
                "&amp;",
            ]
        ),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=fuzz_bytes, extension=st.sampled_from(TEXT_EXTENSIONS))
def test_fuzz_read_bytes(data: bytes, extension: str) -> None:
    try:
        doc = read_bytes(data, f"fuzz{extension}", LIMIT)
    except IngestError as exc:
        assert str(exc).startswith(f"fuzz{extension}: ")
        assert "\n" not in str(exc)
        return
    assert doc.text.strip()
    assert unicodedata.is_normalized("NFC", doc.text)
    assert "\x00" not in doc.text and "\r" not in doc.text


ROUND_TRIP_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(
            blacklist_categories=("Cs", "Cc"),
            blacklist_characters="\u2028\u2029\ufeff",
        ),
        st.sampled_from("\n\r\t"),
    ),
    max_size=500,
)


@settings(max_examples=200, deadline=None)
@given(text=ROUND_TRIP_TEXT)
def test_utf8_text_round_trips(text: str) -> None:
    assume(not text.startswith(("%PDF-", "GIF87a", "GIF89a")))
    expected = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    if not expected:
        assert error_of(read_bytes, text.encode(), "a.txt", LIMIT) == "a.txt: file is empty"
        return
    assert read_bytes(text.encode(), "a.txt", LIMIT).text == expected


# --- start-up cost ----------------------------------------------------------------------


def test_import_is_light() -> None:
    heavy = ["trafilatura", "torch", "transformers", "pypdf", "docx", "lxml", "charset_normalizer"]
    code = f"import sys, digest.ingest; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


# --- packaging --------------------------------------------------------------------------


def test_declared_extras_exist_under_that_spelling() -> None:
    """pip < 23.3 matches extras by exact spelling: a requested extra that the installed
    distribution does not declare so is skipped with a warning, and its packages with it."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    assert any(r.name == "lxml" and "html-clean" in r.extras for r in requirements)
    for requirement in requirements:
        if not requirement.extras:
            continue
        provided = importlib.metadata.metadata(requirement.name).get_all("Provides-Extra") or []
        assert requirement.extras <= set(provided), (requirement, provided)


def test_a_mixed_encoding_is_named_in_the_digest(tmp_path: Path, settings) -> None:
    """The guess reaches the reader of the digest (the bot's user too), in their language."""
    from digest.pipeline import Pipeline

    lines = RUSSIAN.split("\n")
    data = "\n".join(lines[:2]).encode() + b"\n" + "\n".join(lines[2:]).encode("cp1251")
    doc = read_bytes(data, "mixed.txt", LIMIT)
    assert doc.assumed_encoding == "cp1251"
    assert read_bytes(RUSSIAN.encode(), "clean.txt", LIMIT).assumed_encoding is None
    digests = Pipeline(settings).run(doc, ["ru", "en"])
    assert any("UTF-8" in n and "cp1251" in n and "прочитана" in n for n in digests["ru"].notices)
    assert any("read as cp1251" in n for n in digests["en"].notices)
