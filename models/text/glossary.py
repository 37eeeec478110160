"""Keep names the same in every translation, from the glossary in ``prompts/glossary.toml``.

Each entry has a canonical form per language (``forms``) and every known surface form per
language (``aliases``, canonical form included). For a sentence translated from ``source``
to ``target``:

- **post-edit** (always, unless off): for each entry found in the source sentence, a source
  form the model copied through untranslated ("INSTC" left in a Russian sentence) becomes
  the target form, and a target-language spelling variant ("Sergei Lavrov") becomes the
  canonical form ("Sergey Lavrov"). Shortened references ("Lavrov") are left alone, and so
  are Russian case forms ("Лаврова"), which carry grammar.
- **placeholders** (optional): entries found in the source are replaced by numbered
  placeholders before translation and the target forms put back after; if the model loses
  or duplicates a placeholder the sentence is translated again without them and post-edited.

Entries only need ``forms`` and ``aliases`` attributes (``digest.resources.GlossaryEntry``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from models.text import words

# Letters and combining marks of the three scripts (not the danda, which is punctuation):
# a name must not start or end inside a word.
_WORD_CHARS = r"\w\u0900-\u0963\u0966-\u097F\u200c\u200d"
_PLACEHOLDER = "§{}§"
_PLACEHOLDER_RE = re.compile(r"§\s*(\d+)\s*§")


class _Entry(Protocol):
    forms: Mapping[str, str]
    aliases: Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Term:
    """A glossary entry found in a text."""

    entry: int
    start: int
    end: int
    surface: str


@dataclass(frozen=True, slots=True)
class Protected:
    text: str
    # Target form per placeholder number.
    fills: tuple[str, ...]


def _pattern(alias: str) -> re.Pattern[str]:
    # Case-sensitive whole words, as the glossary says ("UN" is not "un"); any run of spaces.
    body = r"\s+".join(re.escape(part) for part in alias.split())
    return re.compile(rf"(?<![{_WORD_CHARS}]){body}(?![{_WORD_CHARS}])")


@lru_cache(maxsize=4096)
def _compiled(alias: str) -> re.Pattern[str]:
    return _pattern(alias)


class Glossary:
    def __init__(self, entries: Iterable[_Entry] = ()) -> None:
        self.entries: tuple[_Entry, ...] = tuple(e for e in entries if getattr(e, "forms", None))
        # Per language: (alias, entry index), longest alias first so that the longest wins.
        self._aliases: dict[str, list[tuple[str, int]]] = {}
        for index, entry in enumerate(self.entries):
            for lang, forms in entry.aliases.items():
                for alias in forms:
                    if alias.strip():
                        self._aliases.setdefault(lang, []).append((alias.strip(), index))
        for items in self._aliases.values():
            items.sort(key=lambda item: -len(item[0]))

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, text: str, language: str) -> list[Term]:
        """Non-overlapping glossary terms in ``text``, longest first, in text order."""
        taken: list[Term] = []
        for alias, index in self._aliases.get(language, ()):
            if alias.split()[0] not in text:
                continue
            for match in _compiled(alias).finditer(text):
                if all(match.end() <= t.start or match.start() >= t.end for t in taken):
                    taken.append(Term(index, match.start(), match.end(), match.group(0)))
        return sorted(taken, key=lambda t: t.start)

    def target_form(self, entry: int, target: str) -> str | None:
        return self.entries[entry].forms.get(target)

    def protect(self, text: str, source: str, target: str) -> Protected:
        """``text`` with each term that has a ``target`` form replaced by a placeholder."""
        fills: list[str] = []
        parts: list[str] = []
        position = 0
        for term in self.find(text, source):
            form = self.target_form(term.entry, target)
            if not form:
                continue
            parts.append(text[position : term.start])
            parts.append(_PLACEHOLDER.format(len(fills)))
            fills.append(form)
            position = term.end
        parts.append(text[position:])
        return Protected("".join(parts), tuple(fills))

    @staticmethod
    def restore(translated: str, protected: Protected) -> str | None:
        """Placeholders replaced by target forms; None when any is lost or repeated."""
        if not protected.fills:
            return translated
        found = [int(m.group(1)) for m in _PLACEHOLDER_RE.finditer(translated)]
        if sorted(found) != list(range(len(protected.fills))):
            return None
        return _PLACEHOLDER_RE.sub(lambda m: protected.fills[int(m.group(1))], translated)

    def post_edit(self, translated: str, source_text: str, source: str, target: str) -> str:
        """Names of entries found in ``source_text`` put in their canonical ``target`` form."""
        entries = dict.fromkeys(t.entry for t in self.find(source_text, source))
        for index in entries:
            entry = self.entries[index]
            canonical = entry.forms.get(target)
            if not canonical:
                continue
            target_aliases = list(entry.aliases.get(target, ()))
            acronym = next((a for a in target_aliases if is_acronym(a)), None)
            # Source forms the model copied through untranslated (other scripts: never text
            # of the target language); an acronym becomes the target's acronym if it has one.
            edits = {
                a: (acronym if acronym and is_acronym(a) else canonical)
                for a in entry.aliases.get(source, ())
                if a not in target_aliases and a != canonical
            }
            # Other spellings of the canonical target form.
            edits.update(
                {
                    a: canonical
                    for a in target_aliases
                    if a != canonical and is_variant(a, canonical, target)
                }
            )
            for alias in sorted(edits, key=len, reverse=True):
                if edits[alias] in alias:
                    # A longer form that contains the replacement would only repeat it.
                    continue
                translated = _compiled(alias).sub(edits[alias], translated)
        return translated


def is_acronym(form: str) -> bool:
    letters = [c for c in form if c.isalpha()]
    return " " not in form.strip() and len(letters) >= 2 and all(c.isupper() for c in letters)


def is_variant(alias: str, canonical: str, language: str) -> bool:
    """True for another spelling of the canonical form ("Sergei Lavrov", "एस जयशंकर"); false
    for a short form ("Lavrov", "INSTC") and, in Russian, for a case form ("Сергея Лаврова"),
    which carries grammar and must stay as the model wrote it."""
    if is_acronym(alias) or set(alias.lower().split()) <= set(canonical.lower().split()):
        return False
    if language == "ru":
        canonical_words = words(canonical)
        for word in words(alias):
            if any(word != c and _same_stem(word, c) for c in canonical_words):
                return False
    return True


def _same_stem(a: str, b: str) -> bool:
    shortest = min(len(a), len(b))
    common = 0
    while common < shortest and a[common] == b[common]:
        common += 1
    return common >= max(3, shortest - 2)
