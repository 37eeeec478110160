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
        doc.tag_morph(tools["morph"])
        names = []
        for span in doc.spans:
            span.normalize(tools["vocab"])
            kind = _KINDS.get(span.type)
            if kind is None:
                continue
            normal = _head_normal(span) if kind != "person" else span.normal or span.text
            if not _SURNAME.search(normal):
                # "А.Бербок" can come back as "А.": the surname is lost, keep the text.
                normal = span.text
            if _SURNAME.search(normal):
                names.append((normal, kind))
        return names


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
