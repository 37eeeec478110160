"""A fetched feed or listing page -> its items, newest first.

Feeds (RSS 0.9x-2.0, RSS 1.0, Atom) are read with feedparser, which copes with the broken
XML many official sites publish and with a feed cut at the size limit. A listing page's items
are its links that match the follower's pattern, in page order (listings put the newest
first), each once.
"""

from __future__ import annotations

import calendar
import fnmatch
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree

from digest.errors import DigestError
from sources.model import Item, SourceSpec
from sources.safe_fetch import Resource, check_url

# Longest pattern a follower may give; it is matched as a glob, never as a regular expression.
MAX_PATTERN_CHARS = 200
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class SourceFormatError(DigestError):
    """The fetched page is neither a feed nor, with a pattern, a listing; one line says which."""


@dataclass(frozen=True, slots=True)
class Parsed:
    items: tuple[Item, ...]
    # The page listed more items than [sources] max_items; only the newest were kept.
    capped: bool = False


def check_pattern(pattern: str) -> str:
    """The pattern as given, or SourceFormatError naming what is wrong with it."""
    if not pattern.strip():
        raise SourceFormatError("the link pattern is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise SourceFormatError(f"the link pattern is over {MAX_PATTERN_CHARS} characters")
    return pattern.strip()


def matches(pattern: str, link: str) -> bool:
    """True when ``link`` contains ``pattern``, where ``*`` and ``?`` are wildcards."""
    return fnmatch.fnmatchcase(link, f"*{pattern}*")


def parse_items(resource: Resource, pattern: str | None, max_items: int) -> Parsed:
    """The items of a feed (``pattern`` None) or a listing page, newest first."""
    items = _listing(resource, pattern) if pattern else _feed(resource)
    return Parsed(tuple(items[:max_items]), capped=len(items) > max_items)


def _is_html(resource: Resource) -> bool:
    kind = resource.content_type.split(";")[0].strip().lower()
    head = resource.data[:512].lstrip().lower()
    return kind in _HTML_TYPES or head.startswith((b"<!doctype html", b"<html"))


def _feed(resource: Resource) -> list[Item]:
    parsed = feedparser.parse(
        resource.data,
        response_headers={"content-location": resource.url, "content-type": resource.content_type},
    )
    if not parsed.get("version") and not parsed.entries:
        if _is_html(resource):
            raise SourceFormatError(
                f"{resource.url} is a web page, not a feed: give the pattern of its "
                "transcript links after the address"
            )
        raise SourceFormatError(f"{resource.url} is not an RSS or Atom feed")
    items: list[Item] = []
    for entry in parsed.entries:
        link = _absolute(resource.url, str(entry.get("link") or ""))
        key = str(entry.get("id") or link)
        if not key or not link:
            continue  # an entry with neither a link nor a GUID cannot be fetched or told apart
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = float(calendar.timegm(stamp)) if stamp else None
        items.append(Item(key, link, str(entry.get("title") or "").strip(), published))
    if items and all(item.published is not None for item in items):
        # Most feeds list the newest first, some the oldest: their dates decide.
        items.sort(key=lambda item: item.published or 0.0, reverse=True)
    return _unique(items)


def _listing(resource: Resource, pattern: str) -> list[Item]:
    if not resource.data.strip():
        return []
    try:
        root = lxml.html.document_fromstring(resource.data)
    except (etree.ParserError, ValueError) as exc:
        raise SourceFormatError(f"{resource.url} is not a readable web page ({exc})") from None
    base = resource.url
    page = resource.url.rstrip("/")
    for href in root.xpath("//base/@href")[:1]:
        base = urljoin(base, str(href))
    items = []
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if not href:
            continue
        link = _absolute(base, href)
        # The page's own address (a "Briefings" menu entry) would match its own pattern.
        if link and link.rstrip("/") != page and matches(pattern, link):
            title = " ".join(anchor.text_content().split())
            items.append(Item(link, link, title))
    return _unique(items)


def _absolute(base: str, href: str) -> str:
    """``href`` made absolute, without its fragment; "" unless it is http(s)."""
    link = urldefrag(urljoin(base, href.strip())).url
    return link if urlsplit(link).scheme in ("http", "https") else ""


def _unique(items: list[Item]) -> list[Item]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            kept.append(item)
    return kept


def make_spec(url: str, pattern: str | None, interval_s: float) -> SourceSpec:
    """A follower's source, checked: an http(s) URL, and a sensible pattern if given."""
    check_url(url)
    return SourceSpec(url, check_pattern(pattern) if pattern is not None else None, interval_s)
