"""End to end: documents in every format, links, and inputs that cannot be digested."""

from __future__ import annotations

import io
import ipaddress
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digest.ingest import read_bytes
from digest.pipeline import Pipeline
from digest.render import split_telegram_html
from tests.bot_harness import (
    CountingEngine,
    RunningBot,
    bot_settings,
    view_parts,
    wait_digests,
    wait_reply,
)
from tests.conftest import SAMPLES, SHARED_SAMPLES
from tests.fake_bot_api import FakeBotApi, FakeUser

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
GERMAN = (
    "Die beiden Außenminister trafen sich heute in Moskau, um über Handel, Energie und die "
    "Zusammenarbeit im Verteidigungsbereich zu sprechen. Sie vereinbarten, die Gespräche im "
    "nächsten Monat fortzusetzen und einen gemeinsamen Bericht vorzulegen."
)


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


def moscow() -> str:
    path = SHARED_SAMPLES / "en_moscow_briefing.txt"
    if not path.exists():
        path = SAMPLES / "en_briefing.txt"
    return path.read_text(encoding="utf-8")


def paragraphs() -> list[str]:
    return [p.strip() for p in moscow().split("\n") if p.strip()]


def as_txt() -> bytes:
    return moscow().encode("utf-8")


def as_md() -> bytes:
    return ("# India and Russia: joint press briefing\n\n" + "\n\n".join(paragraphs())).encode()


def as_html() -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs())
    return (
        "<!doctype html><html><head><title>Briefing</title></head><body><nav>Home | News</nav>"
        f"<article><h1>Joint press briefing</h1>{body}</article><footer>© Ministry</footer>"
        "</body></html>"
    ).encode()


def as_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Joint press briefing", level=1)
    for paragraph in paragraphs():
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def as_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for paragraph in paragraphs():
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(3)
    return bytes(pdf.output())


def _sentences() -> list[str]:
    return [s.strip() + "." for p in paragraphs() for s in p.split(". ") if s.strip(". ")]


def as_srt() -> bytes:
    cues = [
        f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},900\n{s}\n"
        for i, s in enumerate(_sentences(), 1)
    ]
    return "\n".join(cues).encode()


def as_vtt() -> bytes:
    cues = [
        f"00:00:{i:02d}.000 --> 00:00:{i:02d}.900\n{s}\n" for i, s in enumerate(_sentences(), 1)
    ]
    return ("WEBVTT\n\n" + "\n".join(cues)).encode()


FORMATS: dict[str, Callable[[], bytes]] = {
    "txt": as_txt,
    "md": as_md,
    "html": as_html,
    "docx": as_docx,
    "pdf": as_pdf,
    "srt": as_srt,
    "vtt": as_vtt,
}


def test_a_document_in_each_format_gets_its_digest(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(pipeline)
    users = {fmt: FakeUser(300 + i) for i, fmt in enumerate(FORMATS)}
    contents = {fmt: make() for fmt, make in FORMATS.items()}
    with RunningBot(bot_settings(api, tmp_path), api, engine):
        for fmt, user in users.items():
            api.user_document(user, f"briefing.{fmt}", contents[fmt])
        for fmt, user in users.items():
            [last] = wait_digests(api, user.id)
            doc = read_bytes(contents[fmt], f"briefing.{fmt}", 10_000_000)
            expected = split_telegram_html(
                pipeline.run(doc, ["en", "hi", "ru"])["en"], pipeline.resources
            )
            assert [m.text for m in view_parts(api, last, len(expected))] == expected, fmt
            assert "<b>" in expected[0]
    assert sorted(d.format for d in engine.docs) == sorted(FORMATS)
    assert len(api.calls_of("getFile")) == len(FORMATS)
    assert len([c for c in api.calls if c.method == "download"]) == len(FORMATS)


def test_unreadable_inputs_get_clear_replies_and_the_bot_keeps_answering(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path
) -> None:
    engine = CountingEngine(pipeline)
    settings = bot_settings(api, tmp_path)
    png, binary, sticker, empty, bare, short, german, huge = (FakeUser(310 + i) for i in range(8))
    with RunningBot(settings, api, engine):
        api.user_document(png, "photo.png", PNG)
        api.user_document(binary, "scan.txt", PNG)
        api.user_message(sticker, sticker=True)
        api.user_document(empty, "empty.txt", b"  \n\n ")
        api.user_message(bare, "/digest")
        api.user_message(short, "hello there")
        api.user_message(german, GERMAN)
        api.user_document(huge, "hearing.pdf", b"", size=25_000_000)

        wait_reply(api, png.id, "I can't read .png files")
        wait_reply(api, binary.id, "scan.txt: looks like binary data, not text")
        wait_reply(api, sticker.id, "There is no text in this message")
        wait_reply(api, empty.id, "empty.txt: file is empty")
        wait_reply(api, bare.id, "Reply /digest to a message")
        wait_reply(api, short.id, "too short to digest")
        wait_reply(api, german.id, "unsupported language: de")
        wait_reply(
            api, huge.id, "This file is 25.0 MB, but bots can only download files up to 20 MB"
        )
        # Still answering, the same user included.
        api.user_message(german, moscow())
        wait_digests(api, german.id)
    # Refused before downloading: the unsupported type and the file over Telegram's limit.
    downloaded = {c.params["file_id"] for c in api.calls_of("getFile")}
    assert len(downloaded) == 2  # scan.txt and empty.txt
    assert engine.calls == 2  # the German text (refused by language) and the briefing


class _Site(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = as_html()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def only_127_0_0_1(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Plays "the public internet": 127.0.0.1 passes, every other address is private."""
    return str(ip) == "127.0.0.1"


def test_a_link_to_a_transcript_page_gets_its_digest_and_private_links_are_refused(
    api: FakeBotApi, pipeline: Pipeline, tmp_path: Path, site: str
) -> None:
    engine = CountingEngine(pipeline)
    reader, ftp, private = FakeUser(320), FakeUser(321), FakeUser(322)
    port = site.rsplit(":", 1)[1]
    with RunningBot(bot_settings(api, tmp_path), api, engine, address_check=only_127_0_0_1):
        api.user_message(reader, f"{site}/briefings/india-russia.html")
        api.user_message(ftp, "ftp://example.org/briefing.txt")
        api.user_message(private, f"http://127.0.0.2:{port}/briefing.html")
        [last] = wait_digests(api, reader.id)
        wait_reply(api, ftp.id, "I only follow http and https links")
        wait_reply(
            api, private.id, "I could not fetch the link: 127.0.0.2 leads to a non-public address"
        )
    doc = read_bytes(as_html(), "india-russia.html", 10_000_000)
    expected = split_telegram_html(pipeline.run(doc, ["en", "hi", "ru"])["en"], pipeline.resources)
    assert [m.text for m in view_parts(api, last, len(expected))] == expected
    assert [d.format for d in engine.docs] == ["html"]
