"""Language identification restricted to en/hi/ru: script first, langdetect for Latin text."""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

from settings.schema import LanguageSettings

_SCRIPT_SHARE = 0.3
# Frequent English function words: text dense in them is English without asking langdetect,
# which costs milliseconds per call. Other Latin-script languages rarely use these words.
_ENGLISH_MARKERS = frozenset(
    [
        "the",
        "of",
        "and",
        "to",
        "is",
        "are",
        "was",
        "were",
        "that",
        "with",
        "for",
        "has",
        "have",
        "this",
        "be",
        "by",
        "from",
        "which",
        "will",
        "would",
    ]
)
_ENGLISH_MARKER_SHARE = 0.18
_lock = threading.Lock()
_factory_ready = False


@dataclass(frozen=True, slots=True)
class Detection:
    """``language`` is en/hi/ru, or another ISO code when unsupported; None when no letters."""

    language: str | None
    supported: bool
    letters: int


def script_counts(text: str) -> dict[str, int]:
    counts = {"devanagari": 0, "cyrillic": 0, "latin": 0, "other": 0}
    for ch in text:
        if not ch.isalpha() and unicodedata.category(ch) not in ("Mn", "Mc"):
            continue
        code = ord(ch)
        if 0x0900 <= code <= 0x097F or 0xA8E0 <= code <= 0xA8FF:
            counts["devanagari"] += 1
        elif 0x0400 <= code <= 0x052F:
            counts["cyrillic"] += 1
        elif code < 0x0250 or 0x1E00 <= code <= 0x1EFF:
            counts["latin"] += 1
        else:
            counts["other"] += 1
    return counts


def detect(text: str, settings: LanguageSettings) -> Detection:
    """Detect the language of ``text``; deterministic for the same input."""
    counts = script_counts(text)
    letters = sum(counts.values())
    if letters == 0:
        return Detection(None, False, 0)
    # Script decides Hindi and Russian: langdetect calls short Hindi lines Nepali or Marathi.
    if counts["devanagari"] / letters >= _SCRIPT_SHARE:
        return Detection("hi", True, letters)
    if counts["cyrillic"] / letters >= _SCRIPT_SHARE:
        return Detection("ru", True, letters)
    if counts["latin"] >= counts["other"]:
        if counts["latin"] < settings.min_letters_for_detection:
            return Detection("en", True, letters)
        tokens = text.lower().split()
        markers = sum(1 for t in tokens if t.strip(".,;:!?\"'()") in _ENGLISH_MARKERS)
        if tokens and markers / len(tokens) >= _ENGLISH_MARKER_SHARE:
            return Detection("en", True, letters)
        guesses = _langdetect(text)
        english = next((g.prob for g in guesses if g.lang == "en"), 0.0)
        if english >= settings.english_min_probability:
            return Detection("en", True, letters)
        return Detection(guesses[0].lang if guesses else "unknown", False, letters)
    guesses = _langdetect(text)
    return Detection(guesses[0].lang if guesses else "unknown", False, letters)


def _langdetect(text: str) -> list:
    # Imported on first use: loading the profiles costs time the script check often saves.
    global _factory_ready
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    # langdetect keeps global state (profiles, seed): one caller at a time.
    with _lock:
        if not _factory_ready:
            DetectorFactory.seed = 0
            _factory_ready = True
        try:
            return detect_langs(text)
        except LangDetectException:
            return []
