"""The SSRF-safe fetcher now lives in ``sources/safe_fetch.py`` (the watch CLI uses it too);
this name stays for the bot's modules and tests that import it from here."""

from sources.safe_fetch import (
    MAX_REDIRECTS,
    AddressCheck,
    BlockedAddressError,
    Fetched,
    FetchError,
    check_url,
    embedded_ipv4,
    fetch_url,
    is_public_address,
)

__all__ = [
    "MAX_REDIRECTS",
    "AddressCheck",
    "BlockedAddressError",
    "FetchError",
    "Fetched",
    "check_url",
    "embedded_ipv4",
    "fetch_url",
    "is_public_address",
]
