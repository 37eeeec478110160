"""Links to transcripts: http(s) only, limits, and no way into loopback or private networks."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.fetch_url import BlockedAddressError, FetchError, fetch_url, is_public_address

pytestmark = pytest.mark.timeout(30)

PAGE = b"<html><head><title>Briefing</title></head><body><article><p>Transcript.</p></article></body></html>"


class _Site(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        routes = {
            "/page.html": (200, "text/html; charset=utf-8", PAGE, {}),
            "/transcript": (200, "text/plain", "Вопрос: текст".encode(), {}),
            "/hop": (302, "text/plain", b"", {"Location": "/page.html"}),
            "/to-private": (
                302,
                "text/plain",
                b"",
                {"Location": f"http://127.0.0.2:{port}/page.html"},
            ),
            "/to-ftp": (302, "text/plain", b"", {"Location": "ftp://example.org/x"}),
            "/loop": (302, "text/plain", b"", {"Location": "/loop"}),
            "/big": (200, "text/plain", b"x" * 5000, {}),
            "/image": (200, "image/png", b"\x89PNG....", {}),
            "/missing": (404, "text/plain", b"no", {}),
        }
        if self.path == "/slow":
            time.sleep(3)
        status, kind, body, headers = routes.get(self.path, (200, "text/plain", b"slow", {}))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        if self.path != "/big":  # no Content-Length: the limit must hold while streaming too
            self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def only_127_0_0_1(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Plays "the public internet" in tests: 127.0.0.1 is allowed, every other address not."""
    return str(ip) == "127.0.0.1"


def fetch(url: str, **kwargs: object) -> object:
    options: dict[str, object] = {"max_bytes": 1000, "timeout": 5.0, "allowed": only_127_0_0_1}
    options.update(kwargs)
    return asyncio.run(fetch_url(url, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2a00:1450:4001::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        # IPv6 forms that carry an IPv4 address: judged by that address.
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::10.0.0.1", False),
        ("64:ff9b::7f00:1", False),  # NAT64 to 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 to 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 to 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ],
)
def test_only_public_addresses_pass(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
def test_loopback_private_and_link_local_are_refused_after_resolution(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="non-public address"):
        asyncio.run(fetch_url(url, max_bytes=1000, timeout=5.0))


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "file:///etc/passwd", "gopher://x/", "not a url"]
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(FetchError):
        asyncio.run(fetch_url(url, max_bytes=1000, timeout=5.0))


def test_a_page_is_fetched_and_named_for_its_format(site: str) -> None:
    page = fetch(f"{site}/page.html")
    assert page.data == PAGE and page.name == "page.html"  # type: ignore[attr-defined]
    text = fetch(f"{site}/transcript")
    assert text.name == "transcript.txt" and text.data.decode() == "Вопрос: текст"  # type: ignore[attr-defined]


def test_redirects_are_followed_and_each_hop_checked(site: str) -> None:
    assert fetch(f"{site}/hop").data == PAGE  # type: ignore[attr-defined]
    with pytest.raises(BlockedAddressError):
        fetch(f"{site}/to-private")
    with pytest.raises(FetchError, match="http and https"):
        fetch(f"{site}/to-ftp")
    with pytest.raises(FetchError, match="redirects"):
        fetch(f"{site}/loop")


def test_size_time_status_and_type_limits(site: str) -> None:
    with pytest.raises(FetchError, match="limit"):
        fetch(f"{site}/big")
    started = time.monotonic()
    with pytest.raises(FetchError, match="no answer within"):
        fetch(f"{site}/slow", timeout=0.5)
    assert time.monotonic() - started < 2.5
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"{site}/missing")
    with pytest.raises(FetchError, match="not a transcript page"):
        fetch(f"{site}/image")
