"""Russian names with natasha: its NER, morphology and navec embeddings ship in the wheel.

Names come out in the nominative ("Сергея Лаврова" -> "Сергей Лавров"). The models load once
per process, on the first Russian transcript.
"""

from __future__ import annotations

import re
import threading
import warnings
from functools import cache
from typing import Any

from digest.model import EntityKind

_KINDS: dict[str, EntityKind] = {"PER": "person", "LOC": "place", "ORG": "organisation"}
_lock = threading.Lock()
_SURNAME = re.compile(r"[а-яёa-z]{2,}", re.IGNORECASE)
_MIN_SURNAME_CHARS = 3
# A lower-case letter then a capital inside one word: two words run together.
_GLUED = re.compile(r"[а-яё][А-ЯЁ]")
# A patronymic run together with the office after it: "Николаевичзаместитель".
_GLUED_PATRONYMIC = re.compile(r"(?<=[а-яё])(?:ович|евич|ьич|овна|евна|ична)(?=[а-яё]{3,})")
# "В.", "В.Ф.": the initials with which a Russian name in official texts opens ("В.Ф.Янукович").
_INITIAL_RUN = re.compile(r"^(?:[А-ЯЁA-Z]\.)+")
# Case endings of the instrumental, which no nominative of a name has.
_OBLIQUE_ENDINGS = ("ом", "ем", "ём", "ой", "ым", "им")
_VOWELS = frozenset("аеёиоуыэюя")
# Endings of the oblique cases of names whose nominative ends in a consonant ("Шольц").
_CASE_ENDINGS = ("ом", "ем", "ём", "ой", "ей", "ым", "им", "а", "я", "у", "ю", "е")
# A fleeting vowel and the consonant after it: "ец" of "Шолец".
_VOWEL_AND_CONSONANT = 2


@cache
def _natasha() -> dict[str, Any]:
    from natasha import (  # imported here: ~1 s, only for Russian text
        Doc,
        MorphVocab,
        NewsEmbedding,
        NewsMorphTagger,
        NewsNERTagger,
        Segmenter,
    )

    embedding = NewsEmbedding()
    with warnings.catch_warnings():
        # pymorphy2 (natasha's morphology) imports the deprecated pkg_resources.
        warnings.simplefilter("ignore", UserWarning)
        vocab = MorphVocab()
    return {
        "Doc": Doc,
        "segmenter": Segmenter(),
        "ner": NewsNERTagger(embedding),
        "morph": NewsMorphTagger(embedding),
        "vocab": vocab,
    }


def russian_names(text: str) -> list[tuple[str, EntityKind]]:
    """Each named person, place and organisation mention in ``text``, in the nominative."""
    if not text.strip():
        return []
    with _lock:  # the taggers are not documented as thread-safe
        tools = _natasha()
        doc = tools["Doc"](text)
        doc.segment(tools["segmenter"])
        doc.tag_ner(tools["ner"])
        if not doc.spans:
            return []
        _tag_morph_of_names(doc, tools["morph"])
        names = []
        for span in doc.spans:
            span.normalize(tools["vocab"])
            kind = _KINDS.get(span.type)
            if kind is None:
                continue
            normal = _head_normal(span) if kind != "person" else _person_normal(span, tools)
            if not _SURNAME.search(normal):
                # "А.Бербок" can come back as "А.": the surname is lost, keep the text.
                normal = span.text
            if kind == "person" and _address(normal, tools["vocab"]):
                continue
            if _SURNAME.search(normal):
                names.append((normal, kind))
        return names


def _tag_morph_of_names(doc: Any, tagger: Any) -> None:
    """Morphology for the sentences that hold a name, which is all the nominatives need:
    natasha's ``Doc.tag_morph`` tags every sentence, most of a Russian digest's time. The
    tagger reads one sentence at a time, so a name's tags are the same either way."""
    from natasha.doc import inject_morph, sent_words

    sents = [sent for sent in doc.sents if sent.spans]
    markups = tagger.map([sent_words(sent) for sent in sents])
    for sent, markup in zip(sents, markups, strict=True):
        inject_morph(sent.tokens, markup.tokens)  # the tagger gives one tag per word


def _address(name: str, vocab: Any) -> bool:
    """A given name, alone or with a patronymic, and no surname ("Сергей Викторович",
    "Владимир"): how a speaker addresses someone named in full elsewhere; alone it tells a
    reader nobody. A patronymic that is also a surname ("Абрамович") is taken for the
    patronymic: in briefings the address is far more common."""
    words = name.split()
    if not 1 <= len(words) <= 2 or "." in name:  # initials come before a surname
        return False
    given = vocab.parse(words[0])
    if not given or "Name" not in given[0].tag:
        return False
    if len(words) == 1:
        return True
    patronymic = vocab.parse(words[1])
    return bool(patronymic) and "Patr" in patronymic[0].tag


def _person_normal(span: Any, tools: dict[str, Any]) -> str:
    """A person's name in the nominative, as the text spells it, from its initials on.

    natasha leaves a name its dictionary does not know in the case of the text
    ("М.Пезешкианом", "Л.И.Лулой да Силва", "Олафа"), and sometimes gives one a vowel it
    never had ("Шольца" -> "Шолец"); each word is mended on its own (_word_nominative).
    The normal form writes "ё" as "е", which the text's spelling restores. An office or a
    body the tagger took into the name ("Премьер-министр В.Орбан", "Евросовет Ш.Мишель")
    goes: a name written with initials opens with them.
    """
    normal = span.normal or span.text
    words, written = normal.split(), span.text.split()
    if len(words) == len(written):
        pairs = zip(words, written, strict=True)
        normal = " ".join(_word_nominative(n, w, tools["vocab"]) for n, w in pairs)
    normal = _with_yo(normal, span.text)
    words = _one_rendering(normal.split())
    first = next((i for i, w in enumerate(words) if _INITIAL_RUN.match(w)), 0)
    return " ".join(words[first:])


def _one_rendering(words: list[str]) -> list[str]:
    """The name up to where a page's layout glued a second rendering or the next words to
    it: a word said again ("Д.Медведев Медведев Дмитрий Анатольевич", a speaker card), or
    a capital inside a word ("АнатольевичЗаместитель Председателя")."""
    kept: list[str] = []
    seen: set[str] = set()
    for raw in words:
        word = raw.strip("[]")  # "Игорь Олегович [Щёголев]": an editor's insertion
        if not word:
            continue
        glued = _GLUED.search(word)
        if glued:
            kept.append(word[: glued.start() + 1])
            break
        glued = _GLUED_PATRONYMIC.search(word)
        if glued:
            kept.append(word[: glued.end()])
            break
        bare = _INITIAL_RUN.sub("", word).lower()
        if bare in seen:
            break
        seen.add(bare)
        kept.append(word)
    return kept


def _word_nominative(normal: str, written: str, vocab: Any) -> str:
    """One word of a name in the nominative: natasha's ``normal`` form of the ``written``
    word, unless natasha left the word as written (then the morphology's best guess, when it
    is a noun in another case) or changed the stem of a word no dictionary knows (then the
    written word without its case ending)."""
    initials = _INITIAL_RUN.match(written)
    head = initials.group() if initials else ""
    core = written[len(head) :]
    if len(core) < _MIN_SURNAME_CHARS or not core[0].isupper() or not core.isalpha():
        return normal
    if not normal.startswith(head):
        return normal
    changed = normal[len(head) :]
    if changed == core:
        return head + _guessed_nominative(core, vocab)
    if _vowel_inserted(changed, core) and not vocab.word_is_known(core.lower()):
        return head + _without_case_ending(core)
    return normal


def _guessed_nominative(word: str, vocab: Any) -> str:
    parses = vocab.parse(word)
    if not parses or "NOUN" not in parses[0].tag:
        return word
    if any("nomn" in p.tag for p in parses) or not _inflected(word, parses[0].normal):
        return word
    return parses[0].normal[:1].upper() + parses[0].normal[1:]


def shared_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    differ = (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    return next(differ, min(len(a), len(b)))


def _vowel_inserted(normal: str, written: str) -> bool:
    """``normal`` puts a vowel before the last consonant of the stem that ``written`` does
    not have, as Russian does for "Павел" / "Павла" but not for "Шольц" / "Шольца" ("Шолец")."""
    a, b = normal.lower().replace("ё", "е"), written.lower().replace("ё", "е")
    common = shared_prefix(a, b)
    rest, tail = a[common:], b[common:].lstrip("ьй")
    return (
        len(rest) == _VOWEL_AND_CONSONANT
        and rest[0] in "ео"
        and rest[1] not in _VOWELS
        and tail.startswith(rest[1])
    )


def _without_case_ending(word: str) -> str:
    lowered = word.lower()
    for ending in _CASE_ENDINGS:
        if lowered.endswith(ending) and len(word) - len(ending) >= _MIN_SURNAME_CHARS:
            return word[: -len(ending)]
    return word


def _inflected(word: str, guess: str) -> bool:
    """``word`` is ``guess`` with a case ending: an ending no nominative has ("Пезешкианом",
    "Лулой"), or the genitive "-а" after a stem that ends in a consonant ("Пезешкиана"). A guess
    that changes the stem ("Санду" -> "Санда", "Ляйен" -> "Ляйена") is no inflection."""
    lowered = word.lower()
    if len(guess) >= len(word) or lowered[: len(guess) - 1] != guess[:-1]:
        return False
    if lowered.endswith(_OBLIQUE_ENDINGS):
        return True
    # Only "-а": a foreign name ending in "-е" or "-у" is often indeclinable ("Клоди Эньере").
    return lowered[:-1] == guess and guess[-1] not in _VOWELS and lowered[-1] == "а"


def _with_yo(normal: str, text: str) -> str:
    """``normal`` with the "ё" that ``text`` writes where the two spell the same stem
    ("А.Е.Лихачев" from "А.Е.Лихачёва" -> "А.Е.Лихачёв")."""
    chars = list(normal)
    for i, (a, b) in enumerate(zip(normal, text, strict=False)):
        if a.lower() == b.lower():
            continue
        if a in "еЕ" and b in "ёЁ":
            chars[i] = "ё" if a == "е" else "Ё"
            continue
        break
    return "".join(chars)


def _head_normal(span: Any) -> str:
    """An organisation's name with only its head noun (and the words before it) in the
    nominative: natasha without a syntax parse puts every word there ("Совет Безопасность").
    The words after the head depend on it and keep their case ("Совет Безопасности",
    "Организация Объединенных Наций"); a syntax parse would do the same at twice the time."""
    normal = span.normal or span.text
    tokens = span.tokens
    words = normal.split()
    if len(words) != len(tokens) or len(tokens) < 2:
        return normal
    head = next((i for i, t in enumerate(tokens) if getattr(t, "pos", None) in _NOUNS), None)
    if head is None:
        return normal
    return " ".join([*words[: head + 1], *(t.text for t in tokens[head + 1 :])])


_NOUNS = frozenset(["NOUN", "PROPN"])
