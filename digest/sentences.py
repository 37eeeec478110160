"""Sentence splitting: pysbd for English and Hindi, razdel for Russian, then a few repairs.

Both libraries carry their rules inside the package (no download). The repairs cover what
they leave: an abbreviation or initial that still ended a piece ("India-U.S." inside a name),
a piece that starts in lower case (the sentence went on), and pieces without a letter.
"""

from __future__ import annotations

import re
import threading
from functools import cache

import pysbd
import razdel

from digest.resources import LanguageSpec

# Both libraries are fast on ordinary paragraphs; very long ones are cut first so that no
# input can make a single call slow (pysbd's rules look around every period).
_CHUNK_CHARS = 4000
_LAST_TOKEN = re.compile(r"(\S+)$")
_INITIALS = re.compile(r"(?:\w\.)+\w?")
_lock = threading.Lock()
# pysbd builds a regular expression per abbreviation it meets and leaves compiling to the re
# module's cache (512 entries), which a long transcript overflows: every call then recompiles.
# A larger cache makes splitting 2-3x faster; it holds compiled patterns only.
_RE_CACHE_SIZE = 8192
if getattr(re, "_MAXCACHE", _RE_CACHE_SIZE) < _RE_CACHE_SIZE:
    re._MAXCACHE = _RE_CACHE_SIZE  # type: ignore[attr-defined]


@cache
def _pysbd(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=language, clean=False)


def split_sentences(text: str, spec: LanguageSpec) -> list[str]:
    """Sentences of one paragraph, in order, with their own punctuation."""
    pieces: list[str] = []
    for chunk in _chunks(text):
        pieces.extend(p.strip() for p in _split(chunk, spec.code))
    return _repair([p for p in pieces if p], spec)


def _split(text: str, language: str) -> list[str]:
    if language == "ru":
        return [s.text for s in razdel.sentenize(text)]
    with _lock:  # a pysbd Segmenter keeps per-call state on itself
        return list(_pysbd(language).segment(text))


def _chunks(text: str) -> list[str]:
    """Pieces of at most about ``_CHUNK_CHARS``, cut after sentence punctuation or a space."""
    chunks: list[str] = []
    while len(text) > _CHUNK_CHARS:
        window = text[:_CHUNK_CHARS]
        cut = max(window.rfind(". "), window.rfind("? "), window.rfind("! "), window.rfind("। "))
        if cut < _CHUNK_CHARS // 4:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = _CHUNK_CHARS - 1
        chunks.append(text[: cut + 1])
        text = text[cut + 1 :]
    chunks.append(text)
    return chunks


def _repair(pieces: list[str], spec: LanguageSpec) -> list[str]:
    merged: list[str] = []
    for piece in pieces:
        if merged and (_continues(merged[-1], piece, spec) or not _has_letter(piece)):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def _continues(previous: str, piece: str, spec: LanguageSpec) -> bool:
    """True when ``previous`` did not really end: the split fell inside a name or a clause."""
    if previous.endswith(("।", "॥", "?", "!")):
        return False
    first = piece[:1]
    if first.islower():
        return True
    if not previous.endswith("."):
        return False
    if spec.code == "ru" and not _acronym(piece):
        # razdel knows where "с.г." ends a sentence; only "долл. США" is worth mending.
        return False
    match = _LAST_TOKEN.search(previous)
    if not match:
        return False
    # "India-U.S." ends in the abbreviation "U.S."; compare the part after the last hyphen.
    token = match[1].lstrip("\"'«“(").rsplit("-", 1)[-1].rstrip(".").lower()
    if token in spec.abbreviations:
        return True
    # Initials: "S." before "Jaishankar", "С.В." before "Лавров".
    return (len(token) == 1 and token.isalpha()) or bool(_INITIALS.fullmatch(token + "."))


def _acronym(piece: str) -> bool:
    first = piece.split()[0].strip(".,;:") if piece.split() else ""
    return len(first) > 1 and first.isupper()


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)
