"""Word tokens for en/hi/ru: the one tokeniser the offline engine and topic step share."""

from __future__ import annotations

import re
from functools import lru_cache

import simplemma

# \w misses Devanagari vowel signs and virama (they are combining marks), so name the block.
# Hyphens split words ("India-Russia" -> india, russia) so keywords match either part.
# The danda (U+0964/5) is punctuation inside that block, so the class skips it.
_DEVANAGARI = "\u0900-\u0963\u0966-\u097F"
_WORD = re.compile(rf"[\w{_DEVANAGARI}\u200c\u200d]+(?:['’][\w{_DEVANAGARI}]+)*")


def words(text: str) -> list[str]:
    """Lower-cased word tokens; numbers alone are dropped."""
    return [w.lower() for w in cased_words(text)]


def cased_words(text: str) -> list[str]:
    """The tokens of ``words`` as written."""
    return [w for w in _WORD.findall(text) if not w.isdigit()]


@lru_cache(maxsize=200_000)
def lemma(word: str, language: str) -> str:
    """Dictionary form of a lower-cased word (simplemma's bundled en/hi/ru dictionaries)."""
    if language not in _LEMMA_LANGUAGES:
        return word
    return simplemma.lemmatize(word, lang=language).lower()


_LEMMA_LANGUAGES = frozenset({"en", "hi", "ru"})


@lru_cache(maxsize=50_000)
def in_dictionary(word: str, language: str) -> bool:
    """Whether a lower-cased word is in simplemma's dictionary for ``language``: surnames
    mostly are not ("gershkovich"), common words are."""
    if not word or language not in _LEMMA_LANGUAGES:
        return False  # simplemma refuses the empty string ("Minist-" split on its hyphen)
    return bool(simplemma.is_known(word, lang=language))
