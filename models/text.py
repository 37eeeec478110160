"""Word tokens for en/hi/ru: the one tokeniser the offline engine and topic step share."""

from __future__ import annotations

import re

# \w misses Devanagari vowel signs and virama (they are combining marks), so name the block.
# Hyphens split words ("India-Russia" -> india, russia) so keywords match either part.
_WORD = re.compile(r"[\w\u0900-\u097F\u200c\u200d]+(?:['’][\w\u0900-\u097F]+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens; numbers alone are dropped."""
    return [w.lower() for w in _WORD.findall(text) if not w.isdigit()]
