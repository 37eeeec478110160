"""Fetch a link (a transcript page, a feed, a listing page) without letting it reach inside
our network.

Used by the bot (links users send, followed sources) and the watch command, so it lives
outside ``bot/``. Only http and https; a size limit and an overall time limit; redirects
followed by hand so that each hop is checked again. The address check happens *after* DNS
resolution, at connect time, and the connection is made to the very address that was
checked: a name cannot resolve to a public address for the check and to 127.0.0.1 for the
connection.

:func:`fetch_resource` adds what followed sources need: conditional GET (``ETag`` and
``Last-Modified`` sent back, a 304 answered as "not modified") and, for feeds, reading only
the first ``max_bytes`` of a larger body instead of refusing it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

import httpcore
import httpx

from digest.errors import DigestError
from digest.ingest import SUPPORTED_EXTENSIONS

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_USER_AGENT = "briefing-digest-bot/0.1 (+transcript fetcher)"
# Content types we can read, by the extension the ingest layer knows them by.
_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/vtt": ".vtt",
    "application/x-subrip": ".srt",
}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IpAddress], bool]


class FetchError(DigestError):
    """The link could not be fetched; the message says why in one line."""


class BlockedAddressError(FetchError):
    """The link leads to a loopback, private, link-local or otherwise non-public address."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    data: bytes
    # A file name whose extension tells the ingest layer the format.
    name: str


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said identifies this version of a resource (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    """A fetched feed or page, or (``not_modified``) word that it has not changed."""

    url: str
    data: bytes
    content_type: str
    validators: Validators
    not_modified: bool = False
    # The body was longer than ``max_bytes`` and only its start was read.
    truncated: bool = False


def address_check(allow_private_networks: bool) -> AddressCheck:
    """Public addresses only, or (intranets, tests) any unicast address."""
    return _any_unicast if allow_private_networks else is_public_address


def _any_unicast(ip: IpAddress) -> bool:
    return not (ip.is_multicast or ip.is_unspecified)


# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits: IPv4-compatible
# (::a.b.c.d, deprecated) and NAT64's well-known prefix (RFC 6052). On a network with NAT64,
# 64:ff9b::127.0.0.1 reaches 127.0.0.1.
_LAST_32_BITS = (ipaddress.IPv6Network("::/96"), ipaddress.IPv6Network("64:ff9b::/96"))
# Local-use NAT64 (RFC 8215): the IPv4 address may sit anywhere; refused outright.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped, compatible, NAT64, 6to4 and both
    ends of Teredo."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if any(ip in network for network in _LAST_32_BITS) and int(ip) > 1:  # not :: or ::1
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public_address(ip: IpAddress) -> bool:
    """True for globally routable unicast addresses only; an IPv6 address that carries an IPv4
    address counts as public only if that one is too."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return False
        embedded = embedded_ipv4(ip)
        if embedded:
            return all(_public(v4) for v4 in embedded)
    return _public(ip)


def _public(ip: IpAddress) -> bool:
    return ip.is_global and not ip.is_multicast


def check_url(url: str) -> httpx.URL:
    """Parse ``url``; FetchError unless it is an absolute http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"not a valid link ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError("only http and https links are followed")
    if not parsed.host:
        raise FetchError("the link has no host")
    return parsed


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses non-public addresses, connects to the checked one."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, allowed: AddressCheck) -> None:
        self._inner = inner
        self._allowed = allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[tuple[int, int, int | bytes | None]] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise FetchError(f"cannot resolve {host}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
        # Strict: one non-public address is enough to refuse; a name that answers with both
        # kinds is more likely an attack than a misconfiguration.
        for address in addresses:
            if not self._allowed(ipaddress.ip_address(address)):
                raise BlockedAddressError(f"{host} leads to a non-public address")
        if not addresses:
            raise FetchError(f"cannot resolve {host}")
        return await self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, *args: object, **kwargs: object
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_TRANSCRIPT_ACCEPT = "text/html, text/plain, application/pdf, */*;q=0.5"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.8, */*;q=0.5"
)


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowed: AddressCheck = is_public_address,
) -> Fetched:
    """GET ``url`` (following up to five redirects) within ``timeout`` seconds and ``max_bytes``."""
    resource = await fetch_resource(
        url, max_bytes=max_bytes, timeout=timeout, allowed=allowed, accept=_TRANSCRIPT_ACCEPT
    )
    final = httpx.URL(resource.url)
    return Fetched(resource.url, resource.data, _name_for(final, resource.content_type))


async def fetch_resource(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allowed: AddressCheck = is_public_address,
    validators: Validators | None = None,
    accept: str = FEED_ACCEPT,
    truncate: bool = False,
) -> Resource:
    """GET ``url`` like :func:`fetch_url`, any content type. With ``validators`` the request
    is conditional (a 304 gives ``not_modified``); with ``truncate`` a body over ``max_bytes``
    is cut there (``truncated``) instead of refused."""
    current = check_url(url)
    backend = _GuardedBackend(httpcore.AnyIOBackend(), allowed)
    request = _Request(max_bytes, timeout, validators or Validators(), accept, truncate)
    try:
        async with (
            asyncio.timeout(timeout),
            httpcore.AsyncConnectionPool(network_backend=backend, retries=0) as pool,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                location, resource = await _get(pool, current, request)
                if resource is not None:
                    return resource
                current = check_url(str(current.join(location)))
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
    except TimeoutError:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except httpcore.ConnectError as exc:
        raise FetchError(f"cannot connect to {current.host}") from exc
    except httpcore.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s") from None
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise FetchError(f"the connection to {current.host} failed") from exc


@dataclass(frozen=True, slots=True)
class _Request:
    max_bytes: int
    timeout: float
    validators: Validators
    accept: str
    truncate: bool


async def _get(
    pool: httpcore.AsyncConnectionPool, url: httpx.URL, request: _Request
) -> tuple[str, Resource | None]:
    """One request: (redirect location, None) or ("", the resource)."""
    max_bytes, timeout = request.max_bytes, request.timeout
    target = httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )
    headers = [
        (b"User-Agent", _USER_AGENT.encode()),
        # Compressed bodies would defeat the size limit (and httpcore does not decode them).
        (b"Accept-Encoding", b"identity"),
        (b"Accept", request.accept.encode()),
    ]
    if request.validators.etag:
        headers.append((b"If-None-Match", request.validators.etag.encode()))
    if request.validators.last_modified:
        headers.append((b"If-Modified-Since", request.validators.last_modified.encode()))
    extensions = {
        "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
    }
    async with pool.stream("GET", target, headers=headers, extensions=extensions) as response:
        head = httpx.Headers(response.headers)
        if response.status in _REDIRECTS:
            location = head.get("location")
            if not location:
                raise FetchError(f"redirect without a location (HTTP {response.status})")
            return location, None
        validators = Validators(head.get("etag"), head.get("last-modified"))
        content_type = head.get("content-type", "")
        if response.status == 304 and (request.validators.etag or request.validators.last_modified):
            return "", Resource(str(url), b"", content_type, request.validators, not_modified=True)
        if response.status != 200:
            raise FetchError(f"the server answered HTTP {response.status}")
        declared = head.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes and not request.truncate:
            raise FetchError(f"the page is over the {max_bytes / 1e6:.1f} MB limit")
        body = bytearray()
        truncated = False
        async for chunk in response.aiter_stream():
            body += chunk
            if len(body) > max_bytes:
                if not request.truncate:
                    raise FetchError(f"the page is over the {max_bytes / 1e6:.1f} MB limit")
                del body[max_bytes:]
                truncated = True
                break
        return "", Resource(str(url), bytes(body), content_type, validators, truncated=truncated)


def _name_for(url: httpx.URL, content_type: str) -> str:
    stem = PurePosixPath(url.path).name or url.host
    suffix = PurePosixPath(stem).suffix.lower()
    mime = content_type.split(";")[0].strip().lower()
    if mime in _TYPES:
        extension = _TYPES[mime]
    elif suffix in SUPPORTED_EXTENSIONS:
        extension = suffix
    else:
        raise FetchError(f"the link is not a transcript page ({mime or 'unknown content type'})")
    base = PurePosixPath(stem).stem if suffix else stem
    return f"{base or 'page'}{extension}"
