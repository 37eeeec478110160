"""A real HTTP server on 127.0.0.1 that serves feeds, listing pages and transcripts.

Pages can be changed between checks; every page has an ``ETag`` and a ``Last-Modified``
derived from its body and answers a matching conditional GET with 304. Requests are counted
per path, so tests can assert that a source was fetched once.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from settings import PROJECT_ROOT

EVAL = PROJECT_ROOT / "eval" / "briefings"
SAMPLES = PROJECT_ROOT / "samples"


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    # Seconds the server waits before answering (a slow source).
    delay: float = 0.0
    # Whether conditional GET is honoured (304) for this page.
    validators: bool = True


def transcript(path: Path) -> Page:
    return Page(path.read_bytes())


def rss(items: list[tuple[str, str, str, str]], title: str = "Briefings") -> Page:
    """``items``: (guid, link, title, RFC 822 date), in the order given."""
    entries = "".join(
        f"<item><guid>{escape(g)}</guid><link>{escape(link)}</link><title>{escape(t)}</title>"
        f"<pubDate>{escape(d)}</pubDate></item>"
        for g, link, t, d in items
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.org/</link>{entries}"
        "</channel></rss>"
    )
    return Page(body.encode(), "application/rss+xml; charset=utf-8")


def atom(items: list[tuple[str, str, str, str]]) -> Page:
    """``items``: (id, link, title, ISO 8601 date)."""
    entries = "".join(
        f'<entry><id>{escape(i)}</id><link href="{escape(link)}"/><title>{escape(t)}</title>'
        f"<updated>{escape(d)}</updated></entry>"
        for i, link, t, d in items
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>MFA</title><id>urn:x</id><updated>2026-11-30T00:00:00Z</updated>{entries}</feed>"
    )
    return Page(body.encode(), "application/atom+xml")


def listing(links: list[tuple[str, str]]) -> Page:
    """An HTML page of (href, text) links, with navigation links that match no pattern."""
    anchors = "".join(f'<li><a href="{escape(h)}">{escape(t)}</a></li>' for h, t in links)
    body = (
        "<!doctype html><html><head><title>Briefings</title></head><body>"
        '<nav><a href="/">Home</a> <a href="/about">About</a></nav>'
        f"<ul>{anchors}</ul></body></html>"
    )
    return Page(body.encode(), "text/html; charset=utf-8")


class FeedSite:
    """``with FeedSite() as site:`` serves ``site.pages`` at ``site.url(path)``."""

    def __init__(self) -> None:
        self._pages: dict[str, Page] = {}
        self._lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        # Requests answered 304.
        self.not_modified: Counter[str] = Counter()
        self._release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site._serve(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FeedSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # a slow reply still waiting is let go
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def set(self, path: str, page: Page) -> None:
        with self._lock:
            self._pages[path] = page

    def remove(self, path: str) -> None:
        with self._lock:
            self._pages.pop(path, None)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        with self._lock:
            page = self._pages.get(path)
            self.hits[path] += 1
        if page is None:
            page = Page(b"not found", status=404)
        if page.delay:
            self._release.wait(page.delay)
        etag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
        # One fixed date per body: enough for If-Modified-Since to round-trip.
        modified = formatdate(int(hashlib.sha256(page.body).hexdigest()[:6], 16), usegmt=True)
        if page.status == 200 and page.validators and handler.headers.get("If-None-Match") == etag:
            with self._lock:
                self.not_modified[path] += 1
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        handler.send_response(page.status)
        handler.send_header("Content-Type", page.content_type)
        handler.send_header("Content-Length", str(len(page.body)))
        if page.status == 200 and page.validators:
            handler.send_header("ETag", etag)
            handler.send_header("Last-Modified", modified)
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(page.body)
