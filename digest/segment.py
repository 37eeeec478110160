"""Paragraphs, speaker turns, languages and sentences of a transcript."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from digest.errors import IngestError, UnsupportedLanguageError
from digest.model import Document, Paragraph, Sentence, Transcript
from digest.resources import LanguageSpec, Resources
from models.text.language import detect
from settings.schema import LanguageSettings

_LABEL = re.compile(
    r"^(?P<label>[^\W\d_][^\n:：\"“”«»]{0,60}?)\s*[:：](?:\s+|$)(?P<rest>.*)$", re.S
)
_LABEL_MAX_WORDS = 6
_BOUNDARY = re.compile(r"([.!?…।॥]+)([\"»”’')\]]*)(\s+)")
_LAST_TOKEN = re.compile(r"(\S+)$")
# A paragraph this short that looks foreign is more likely names or a quote: keep it.
_MIN_LETTERS_TO_SKIP = 60
_TITLE_MAX_WORDS = 24


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    speaker: str | None
    is_question: bool


def segment(doc: Document, resources: Resources, settings: LanguageSettings) -> Transcript:
    """Split ``doc`` into paragraphs with speakers and languages, then into sentences."""
    blocks = _blocks(doc.text, resources)
    if not blocks:
        raise IngestError(f"{doc.name}: no text to summarise")
    detections = [detect(block.text, settings) for block in blocks]
    by_language: Counter[str] = Counter()
    for found in detections:
        if found.supported and found.language:
            by_language[found.language] += found.letters
    if not by_language:
        whole = detect(doc.text, settings)
        raise UnsupportedLanguageError(whole.language or "unknown", doc.name)
    language = by_language.most_common(1)[0][0]

    paragraphs: list[Paragraph] = []
    sentences: list[Sentence] = []
    skipped = 0
    for block, found in zip(blocks, detections, strict=True):
        if found.supported and found.language:
            lang = found.language
        elif found.language is None or found.letters < _MIN_LETTERS_TO_SKIP:
            lang = language
        else:
            skipped += 1
            continue
        index = len(paragraphs)
        paragraphs.append(Paragraph(index, block.text, lang, block.speaker, block.is_question))
        for text in split_sentences(block.text, resources.languages[lang]):
            sentences.append(
                Sentence(len(sentences), text, lang, index, block.speaker, block.is_question)
            )
    speakers = tuple(dict.fromkeys(p.speaker for p in paragraphs if p.speaker))
    return Transcript(
        doc.name,
        language,
        tuple(paragraphs),
        tuple(sentences),
        speakers,
        skipped,
        _title_sentence(paragraphs, sentences),
    )


def _title_sentence(paragraphs: list[Paragraph], sentences: list[Sentence]) -> int | None:
    """A short first line without a full stop, followed by more text, is the title."""
    if len(paragraphs) < 2 or paragraphs[0].speaker:
        return None
    first = [s for s in sentences if s.paragraph == 0]
    if len(first) != 1:
        return None
    text = first[0].text
    if text[-1] in ".!?।…:;" or len(text.split()) > _TITLE_MAX_WORDS:
        return None
    return first[0].id


def _blocks(text: str, resources: Resources) -> list[_Block]:
    """Paragraphs: blank-line separated, or one per line when a text has no blank lines;
    a speaker label at the start of a line always opens a new one."""
    lines = [line.strip() for line in text.split("\n")]
    one_per_line = all(lines) or (sum(1 for line in lines if not line) <= 1 and len(lines) > 3)
    blocks: list[_Block] = []
    current: list[str] = []
    speaker: str | None = None
    is_question = False

    def flush() -> None:
        if current:
            blocks.append(_Block(" ".join(current), speaker, is_question))
            current.clear()

    for line in lines:
        if not line:
            flush()
            continue
        label = _speaker_label(line, resources)
        if label is not None:
            flush()
            speaker, is_question, line = label
        elif one_per_line:
            flush()
        if line:
            current.append(line)
    flush()
    return [b for b in blocks if b.text.strip()]


def _speaker_label(line: str, resources: Resources) -> tuple[str, bool, str] | None:
    match = _LABEL.match(line)
    if not match:
        return None
    label = match["label"].strip()
    key = label.lower().rstrip(".")
    specs = resources.languages.values()
    if any(key in spec.question_labels for spec in specs):
        return label, True, match["rest"].strip()
    if any(key in spec.answer_labels for spec in specs) or _looks_like_name(label):
        return label, False, match["rest"].strip()
    return None


def _looks_like_name(label: str) -> bool:
    words = label.split()
    if not words or len(words) > _LABEL_MAX_WORDS or any(ch.isdigit() for ch in label):
        return False
    cased = [w for w in words if w[0].isalpha() and (w[0].isupper() or w[0].islower())]
    if not cased:
        # Devanagari has no capitals: accept short labels.
        return len(words) <= 3
    if not words[0][0].isupper():
        return False
    # Short lower-case particles are allowed inside titles ("Minister of State").
    return all(w[0].isupper() or len(w) <= 3 for w in cased)


def split_sentences(text: str, spec: LanguageSpec) -> list[str]:
    """Sentences of one paragraph. Abbreviations, initials and lower-case continuations
    do not end a sentence; the Hindi danda always does."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end(2)
        if _is_boundary(text, start, match, spec):
            piece = text[start:end].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return _merge_fragments(sentences)


def _is_boundary(text: str, start: int, match: re.Match[str], spec: LanguageSpec) -> bool:
    marks = match[1]
    if "।" in marks or "॥" in marks:
        return True
    following = text[match.end() : match.end() + 1]
    if following and following.islower():
        return False
    if marks != ".":
        return True
    token_match = _LAST_TOKEN.search(text, start, match.start(1))
    if not token_match:
        return True
    token = token_match[1].lstrip("\"'«“(").lower()
    if token in spec.abbreviations:
        return False
    # A single letter before a period is an initial ("S. Jaishankar", "М.В. Захарова").
    return not ((len(token) == 1 and token.isalpha()) or re.fullmatch(r"(\w\.)+\w", token))


def _merge_fragments(sentences: list[str]) -> list[str]:
    """Glue pieces without a single letter (a stray "..." or "—") onto the sentence before."""
    merged: list[str] = []
    for piece in sentences:
        if merged and not any(ch.isalpha() for ch in piece):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged
