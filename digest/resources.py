"""Read the language resources kept as data in ``prompts/``."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from digest.errors import DigestError


class ResourceError(DigestError):
    """A file under prompts/ is missing or malformed."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    id: str
    titles: dict[str, str]
    keywords: dict[str, tuple[str, ...]]
    # Common in any briefing: needs more statements to become a section of its own.
    broad: bool = False


@dataclass(frozen=True, slots=True)
class GlossaryEntry:
    kind: str
    forms: dict[str, str]
    # Every surface form per language, canonical form included.
    aliases: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """Transcript conventions of one language (prompts/language.toml)."""

    code: str
    abbreviations: frozenset[str]
    question_labels: frozenset[str]
    answer_labels: frozenset[str]
    # Longest first, so that "in addition" wins over "in".
    discourse_markers: tuple[str, ...] = ()
    moderator_labels: frozenset[str] = frozenset()
    official_words: frozenset[str] = frozenset()
    not_in_labels: frozenset[str] = frozenset()
    # Upper case as written: acronyms are compared as they stand.
    common_acronyms: frozenset[str] = frozenset()
    # Longest first, so that "prime minister" is dropped before "minister".
    honorifics: tuple[str, ...] = ()
    # Lower-case words inside a person's name ("bin", "von", "da").
    name_particles: frozenset[str] = frozenset()
    months: frozenset[str] = frozenset()
    stage_directions: re.Pattern[str] | None = None
    pleasantries: re.Pattern[str] | None = None
    job_titles: frozenset[str] = frozenset()
    # Words heading an office's name ("minister", "министр*": a trailing * is a prefix).
    office_heads: tuple[str, ...] = ()
    # Words too general to name a topic ("thank", "speak", "question").
    weak_words: frozenset[str] = frozenset()


# eq=False: compared and hashed by identity, so caches can key on a loaded set.
@dataclass(frozen=True, slots=True, eq=False)
class Resources:
    taxonomy: tuple[TopicSpec, ...]
    glossary: tuple[GlossaryEntry, ...]
    languages: dict[str, LanguageSpec]
    stopwords: dict[str, frozenset[str]]
    labels: dict[str, dict[str, Any]]
    # Countries, seas, regions and organisations in en/hi/ru (prompts/gazetteer.toml).
    gazetteer: tuple[GlossaryEntry, ...] = ()
    # Given names in Latin script, lower-cased (prompts/given_names.txt).
    given_names: frozenset[str] = frozenset()
    # Chinese family names in pinyin, lower-cased (prompts/chinese_surnames.txt).
    chinese_surnames: frozenset[str] = frozenset()
    # Given names and surnames in Devanagari (prompts/hindi_names.toml).
    hindi_given_names: frozenset[str] = frozenset()
    hindi_surnames: frozenset[str] = frozenset()

    def label(self, language: str, key: str, **values: object) -> str:
        text = self.labels.get(language, {}).get(key) or self.labels["en"][key]
        return text.format(**values) if values else text

    def topic_title(self, topic_id: str, language: str) -> str | None:
        for spec in self.taxonomy:
            if spec.id == topic_id:
                return spec.titles.get(language) or spec.titles["en"]
        return None

    def language_name(self, code: str, in_language: str) -> str:
        names = self.labels.get(in_language, {}).get("language_names", {})
        return names.get(code, code)


LANGUAGES = ("en", "hi", "ru")


@cache
def load_resources(prompts_dir: Path) -> Resources:
    """Load and check everything under ``prompts_dir`` once per directory."""
    return Resources(
        taxonomy=_taxonomy(_toml(prompts_dir / "taxonomy.toml")),
        glossary=_glossary(_toml(prompts_dir / "glossary.toml")),
        languages=_languages(_toml(prompts_dir / "language.toml")),
        stopwords={
            lang: _word_list(prompts_dir / "stopwords" / f"{lang}.txt") for lang in LANGUAGES
        },
        labels=_labels(_toml(prompts_dir / "labels.toml")),
        gazetteer=_gazetteer(_toml(prompts_dir / "gazetteer.toml")),
        given_names=_word_list(prompts_dir / "given_names.txt"),
        chinese_surnames=_word_list(prompts_dir / "chinese_surnames.txt"),
        **_hindi_names(_toml(prompts_dir / "hindi_names.toml")),
    )


def _hindi_names(data: dict[str, Any]) -> dict[str, frozenset[str]]:
    return {
        "hindi_given_names": frozenset(data.get("given", [])),
        "hindi_surnames": frozenset(data.get("surnames", [])),
    }


def _toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ResourceError(f"{path} is not valid TOML: {exc}") from None


def _taxonomy(data: dict[str, Any]) -> tuple[TopicSpec, ...]:
    specs = []
    for raw in data.get("topic", []):
        try:
            specs.append(
                TopicSpec(
                    id=raw["id"],
                    titles={lang: raw["title"][lang] for lang in LANGUAGES},
                    keywords={
                        lang: tuple(_fold(k) for k in raw["keywords"][lang]) for lang in LANGUAGES
                    },
                    broad=bool(raw.get("broad", False)),
                )
            )
        except KeyError as exc:
            raise ResourceError(f"taxonomy topic {raw.get('id', '?')}: missing {exc}") from None
    if not specs:
        raise ResourceError("taxonomy.toml defines no topics")
    return tuple(specs)


def _fold(word: str) -> str:
    # Documents are NFC after ingest; hand-edited data may not be.
    return unicodedata.normalize("NFC", word).lower()


def _glossary(data: dict[str, Any]) -> tuple[GlossaryEntry, ...]:
    entries = []
    for raw in data.get("entry", []):
        forms = {lang: raw[lang] for lang in LANGUAGES if raw.get(lang)}
        aliases = raw.get("aliases", {})
        entries.append(
            GlossaryEntry(
                kind=raw.get("kind", "organisation"),
                forms=forms,
                aliases={
                    lang: tuple(dict.fromkeys([forms[lang], *aliases.get(lang, [])]))
                    for lang in forms
                },
            )
        )
    return tuple(entries)


def _gazetteer(data: dict[str, Any]) -> tuple[GlossaryEntry, ...]:
    entries = []
    for raw in data.get("entry", []):
        names = {
            lang: tuple(dict.fromkeys(_with_reading_order(raw[lang])))
            for lang in LANGUAGES
            if raw.get(lang)
        }
        entries.append(
            GlossaryEntry(
                kind=raw.get("kind", "place"),
                forms={lang: forms[0] for lang, forms in names.items()},
                aliases=names,
            )
        )
    return tuple(entries)


def _with_reading_order(forms: list[str]) -> list[str]:
    """ISO names are inverted for sorting ("Korea, Republic of"); texts say "Republic of
    Korea"."""
    extra = []
    for form in forms:
        head, sep, tail = form.partition(", ")
        if sep and tail.endswith(" of"):
            extra.append(f"{tail} {head}")
    return [*forms, *extra]


def _languages(data: dict[str, Any]) -> dict[str, LanguageSpec]:
    return {lang: _language(lang, data.get(lang, {})) for lang in LANGUAGES}


def _language(lang: str, raw: dict[str, Any]) -> LanguageSpec:
    def folded(key: str) -> list[str]:
        return [_fold(item) for item in raw.get(key, [])]

    def by_length(key: str) -> tuple[str, ...]:
        return tuple(sorted(folded(key), key=len, reverse=True))

    return LanguageSpec(
        code=lang,
        abbreviations=frozenset(folded("abbreviations")),
        question_labels=frozenset(folded("question_labels")),
        answer_labels=frozenset(folded("answer_labels")),
        discourse_markers=by_length("discourse_markers"),
        moderator_labels=frozenset(folded("moderator_labels")),
        official_words=frozenset(folded("official_words")),
        not_in_labels=frozenset(folded("not_in_labels")),
        common_acronyms=frozenset(raw.get("common_acronyms", [])),
        honorifics=by_length("honorifics"),
        name_particles=frozenset(folded("name_particles")),
        months=frozenset(folded("months")),
        stage_directions=_alternation(lang, "stage_directions", raw, whole=True),
        pleasantries=_alternation(lang, "pleasantries", raw, whole=False),
        job_titles=frozenset(folded("job_titles")),
        office_heads=tuple(folded("office_heads")),
        weak_words=frozenset(folded("weak_words")),
    )


def _alternation(lang: str, key: str, raw: dict[str, Any], whole: bool) -> re.Pattern[str] | None:
    """One compiled alternation of a list of patterns; ``whole`` anchors it at both ends."""
    patterns = raw.get(key, [])
    if not patterns:
        return None
    body = "|".join(f"(?:{p})" for p in patterns)
    try:
        return re.compile(rf"^(?:{body})$" if whole else rf"^(?:{body})", re.IGNORECASE)
    except re.error as exc:
        raise ResourceError(f"language.toml [{lang}] {key}: bad pattern ({exc})") from None


def _word_list(path: Path) -> frozenset[str]:
    """A word list: one per line, lower-cased; lines starting with # are comments."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
    return frozenset(_fold(w.strip()) for w in lines if w.strip() and not w.startswith("#"))


def _labels(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if "en" not in data:
        raise ResourceError("labels.toml has no [en] table")
    missing = {
        f"{lang}.{key}" for lang in LANGUAGES for key in data["en"] if key not in data.get(lang, {})
    }
    if missing:
        raise ResourceError(f"labels.toml lacks {', '.join(sorted(missing))}")
    return data
