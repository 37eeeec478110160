"""Paragraphs, speaker turns, languages and sentences of a transcript."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from digest.conventions import LineKind, Role, is_heading, line_kind, speaker_label, unwrap
from digest.disfluency import clean_speech
from digest.errors import IngestError, UnsupportedLanguageError
from digest.model import Document, Paragraph, Sentence, SentenceKind, Transcript
from digest.remarks import classify, is_pleasantry, is_question
from digest.resources import Resources
from digest.sentences import split_sentences
from models.text.language import Detection, detect
from settings.schema import LanguageSettings

# A paragraph this short that looks foreign is more likely names or a quote: keep it.
_MIN_LETTERS_TO_SKIP = 60
_TITLE_MAX_WORDS = 24
# A named speaker who says less than this share of all labelled words and asks something is
# a reporter; officials hold the floor.
_REPORTER_SHARE = 0.12
_MAX_DETECTIONS = 400


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    speaker: str | None
    role: Role | None
    single_line: bool


def segment(doc: Document, resources: Resources, settings: LanguageSettings) -> Transcript:
    """Split ``doc`` into paragraphs with speakers and languages, then into sentences."""
    blocks = _blocks(doc.text, resources)
    if not blocks:
        raise IngestError(f"{doc.name}: no text to summarise")
    detections = _detect_all(blocks, settings)
    by_language: Counter[str] = Counter()
    for found in detections:
        if found.supported and found.language:
            by_language[found.language] += found.letters
    if not by_language:
        whole = detect(doc.text, settings)
        raise UnsupportedLanguageError(whole.language or "unknown", doc.name)
    language = by_language.most_common(1)[0][0]
    questions = _question_turns(blocks)

    paragraphs: list[Paragraph] = []
    sentences: list[Sentence] = []
    skipped = 0
    title: int | None = None
    for number, (block, found) in enumerate(zip(blocks, detections, strict=True)):
        if found.supported and found.language:
            lang = found.language
        elif found.language is None or found.letters < _MIN_LETTERS_TO_SKIP:
            lang = language
        else:
            skipped += 1
            continue
        spec = resources.languages[lang]
        index = len(paragraphs)
        question = number in questions
        plain_line = block.single_line and block.speaker is None
        heading = plain_line and is_heading(block.text)
        if (
            index == 0
            and plain_line
            and is_heading(block.text, _TITLE_MAX_WORDS)
            and len(blocks) > 1
            and not is_pleasantry(block.text, spec)
        ):
            title = len(sentences)
            heading = False
        paragraphs.append(Paragraph(index, block.text, lang, block.speaker, question, heading))
        for text in split_sentences(clean_speech(block.text), spec):
            kind = classify(
                text,
                spec,
                question_turn=question,
                moderator_turn=block.role is Role.MODERATOR,
                heading=heading,
            )
            sentences.append(
                Sentence(len(sentences), text, lang, index, block.speaker, question, kind)
            )
    if title is not None and not _is_title(sentences, title):
        title = None
    if title is not None:
        sentences[title] = replace(sentences[title], kind=SentenceKind.HEADING)

    speakers = tuple(dict.fromkeys(p.speaker for p in paragraphs if p.speaker))
    return Transcript(
        doc.name, language, tuple(paragraphs), tuple(sentences), speakers, skipped, title
    )


def _detect_all(blocks: list[_Block], settings: LanguageSettings) -> list[Detection]:
    """The language of each block. langdetect costs milliseconds a call: repeated blocks are
    detected once, and past ``_MAX_DETECTIONS`` distinct blocks the script alone decides (a
    Latin paragraph is then taken as English), so no input makes this step slow."""
    script_only = settings.model_copy(update={"min_letters_for_detection": 1 << 30})
    found: dict[str, Detection] = {}
    result = []
    for block in blocks:
        if block.text not in found:
            chosen = settings if len(found) < _MAX_DETECTIONS else script_only
            found[block.text] = detect(block.text, chosen)
        result.append(found[block.text])
    return result


def _is_title(sentences: list[Sentence], title: int) -> bool:
    """The first line is the title when it is one short sentence of its own."""
    same = [s for s in sentences if s.paragraph == sentences[title].paragraph]
    text = sentences[title].text
    return (
        len(same) == 1
        and len(text.split()) <= _TITLE_MAX_WORDS
        and not is_question(text)
        and len(sentences) > 1
    )


def _blocks(text: str, resources: Resources) -> list[_Block]:
    """Paragraphs: blank-line separated, or one per line when a text has no blank lines;
    a speaker label at the start of a line always opens a new one. Stage directions and
    datelines are dropped; hard-wrapped lines are joined first."""
    specs = tuple(resources.languages.values())
    lines = unwrap([line.strip() for line in text.split("\n")], specs)
    one_per_line = all(lines) or (sum(1 for line in lines if not line) <= 1 and len(lines) > 3)
    blocks: list[_Block] = []
    current: list[str] = []
    speaker: str | None = None
    role: Role | None = None

    def flush() -> None:
        if current:
            blocks.append(_Block(" ".join(current), speaker, role, len(current) == 1))
            current.clear()

    for line in lines:
        if not line:
            flush()
            continue
        if any(line_kind(line, spec) is LineKind.STAGE for spec in specs):
            flush()
            continue
        label = speaker_label(line, specs)
        if label is not None:
            flush()
            speaker, role, line = label.text, label.role, label.rest
        elif one_per_line:
            flush()
        if line:
            current.append(line)
    flush()
    return [b for b in blocks if b.text.strip()]


def _question_turns(blocks: list[_Block]) -> set[int]:
    """Indices of blocks that are questions: labelled so, or asked by a named reporter."""
    words_by_speaker: Counter[str] = Counter()
    asks: set[str] = set()
    for block in blocks:
        if block.speaker and block.role is Role.NAMED:
            words_by_speaker[block.speaker] += len(block.text.split())
            if "?" in block.text:
                asks.add(block.speaker)
    labelled = sum(len(b.text.split()) for b in blocks if b.speaker) or 1
    reporters = {name for name in asks if words_by_speaker[name] < _REPORTER_SHARE * labelled}
    return {
        i
        for i, block in enumerate(blocks)
        if block.role is Role.QUESTION or (block.role is Role.NAMED and block.speaker in reporters)
    }
