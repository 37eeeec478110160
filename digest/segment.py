"""Paragraphs, speaker turns, languages and sentences of a transcript."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from digest.conventions import (
    LineKind,
    Role,
    has_office,
    is_heading,
    line_kind,
    speaker_label,
    unwrap,
)
from digest.disfluency import clean_speech
from digest.entities import known_name
from digest.errors import IngestError, UnsupportedLanguageError
from digest.model import Document, Paragraph, Sentence, SentenceKind, Transcript
from digest.remarks import classify, is_pleasantry, is_question
from digest.resources import Resources
from digest.sentences import split_sentences
from models.text import words
from models.text.language import Detection, detect
from settings.schema import LanguageSettings

# A paragraph this short that looks foreign is more likely names or a quote: keep it.
_MIN_LETTERS_TO_SKIP = 60
# In an English briefing, a Latin-script paragraph shorter than this stays English.
_FOREIGN_MIN_WORDS = 40
# Words no other Latin-script language writes the same way ("a", "on", "in" are French or
# German too).
_ENGLISH_ONLY_WORDS = frozenset(
    [
        "the",
        "to",
        "of",
        "and",
        "is",
        "are",
        "was",
        "were",
        "i",
        "you",
        "we",
        "it",
        "me",
        "my",
        "our",
        "your",
        "let",
        "thanks",
        "thank",
        "this",
        "that",
        "with",
        "i'm",
        "you've",
        "we'll",
        "we're",
        "it's",
        "don't",
    ]
)
_TITLE_MAX_WORDS = 24
# Fewer words than this name a publisher, a genre or a place, not the briefing.
_TITLE_MIN_WORDS = 5
_FRONT_MATTER_MAX_LINES = 6
_BYLINE_NAME_MAX_WORDS = 4
# A byline or a place line is short; a title may hold a comma and an office.
_PLACE_LINE_MAX_WORDS = 8
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
    # Every line short and unpunctuated: "The People’s House / Seoul, Republic of Korea".
    heading_lines: bool = False


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

    title_block, front_matter = _front_matter(blocks, resources)
    paragraphs: list[Paragraph] = []
    sentences: list[Sentence] = []
    skipped = 0
    title: int | None = None
    front_sentences = 0
    for number, (block, found) in enumerate(zip(blocks, detections, strict=True)):
        if found.supported and found.language:
            lang = found.language
        elif (
            found.language is None
            or found.letters < _MIN_LETTERS_TO_SKIP
            or (language == "en" and _spoken_english(block.text))
        ):
            lang = language
        else:
            skipped += 1
            continue
        spec = resources.languages[lang]
        index = len(paragraphs)
        question = number in questions
        plain_line = block.single_line and block.speaker is None
        heading = (plain_line and is_heading(block.text)) or number < front_matter
        if number == title_block:
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
        if number < front_matter:
            front_sentences = len(sentences)
    sentences = _repeats_marked(sentences)
    if title is not None and not _is_title(sentences, title):
        title = None
    if title is not None:
        sentences[title] = replace(sentences[title], kind=SentenceKind.HEADING)

    speakers = tuple(dict.fromkeys(p.speaker for p in paragraphs if p.speaker))
    return Transcript(
        doc.name,
        language,
        tuple(paragraphs),
        tuple(sentences),
        speakers,
        skipped,
        title,
        front_sentences,
    )


def _repeats_marked(sentences: list[Sentence]) -> list[Sentence]:
    """A statement said word for word before is a repeat: a bullet says it once."""
    seen: set[str] = set()
    out = []
    for sentence in sentences:
        if sentence.informative:
            key = " ".join(words(sentence.text))
            if key in seen:
                sentence = replace(sentence, kind=SentenceKind.REPEAT)
            seen.add(key)
        out.append(sentence)
    return out


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


def _spoken_english(text: str) -> bool:
    """A Latin-script turn in an English briefing that langdetect gave to another language:
    short spoken English ("You've got — you've got to let me answer") and English naming a
    foreign newspaper fool it. Only a long paragraph is taken as really foreign."""
    tokens = {t.strip(".,;:!?()—–\"'“”").lower().replace("’", "'") for t in text.split()}
    return len(tokens) < _FOREIGN_MIN_WORDS and bool(tokens & _ENGLISH_ONLY_WORDS)


def _front_matter(blocks: list[_Block], resources: Resources) -> tuple[int | None, int]:
    """The title's block, and how many plain lines open the text before the briefing starts.

    Official pages open with lines that are no title: the publisher ("THE WHITE HOUSE",
    "Office of Communications"), the genre ("Special Briefing"), a byline ("Antony J. Blinken,
    Secretary of State"), the place ("Seoul, Republic of Korea"). The title is the first line
    among them long enough to say what the briefing is; all of them are headings.
    """
    title: int | None = None
    count = 0
    for number, block in enumerate(blocks[:_FRONT_MATTER_MAX_LINES]):
        if block.speaker is not None:
            break
        if not (block.heading_lines or is_heading(block.text, _TITLE_MAX_WORDS)):
            break
        count = number + 1
        if title is None and _title_like(block.text, resources) and len(blocks) > number + 1:
            title = number
    return title, count


def _title_like(text: str, resources: Resources) -> bool:
    words = text.split()
    if len(words) < _TITLE_MIN_WORDS:
        return False
    specs = tuple(resources.languages.values())
    if any(is_pleasantry(text, spec) for spec in specs):
        return False
    head, _, tail = text.partition(",")
    # A byline: a name, then an office after the comma.
    short = len(words) <= _PLACE_LINE_MAX_WORDS
    if short and tail and len(head.split()) <= _BYLINE_NAME_MAX_WORDS and has_office(tail, specs):
        return False
    # A place: "The People’s House Seoul, Republic of Korea".
    last = text.rsplit(",", 1)[-1].strip()
    place = known_name(last, resources)
    return not ("," in text and short and place is not None and place.kind == "place")


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
            short = all(is_heading(line) for line in current)
            blocks.append(_Block(" ".join(current), speaker, role, len(current) == 1, short))
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
