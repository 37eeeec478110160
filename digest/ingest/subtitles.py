"""SRT and WebVTT subtitles: the spoken words as running text, speakers kept."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from digest.ingest.encoding import clean, decode

_BLOCK_SEPARATOR = re.compile(r"\n[ \t]*\n")
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
_SKIPPED_BLOCK = re.compile(r"^(?:NOTE|STYLE|REGION)(?:\s|$)")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>", re.I)
# Markup tags (<i>, <c.yellow>, <font ...>), VTT inline timestamps and ASS overrides ({\an8}).
_MARKUP = re.compile(r"</?[A-Za-z][^>]*>|<\d[\d:.]*>|\{\\[^}]*\}")
# "[Music]", "(APPLAUSE)", "♪ ... ♪": sound descriptions, not speech.
_SOUND = re.compile(r"^(?:\[[^\]]*\]|\([^)]*\)|♪.*♪?)$")
# Broadcast captions mark a change of speaker with ">>".
_SPEAKER_CHANGE = re.compile(r"^>>\s*")
_SENTENCE_END = tuple(".!?…")
# A pause this long (seconds) after a finished sentence starts a new paragraph.
_PARAGRAPH_PAUSE_S = 3.0


@dataclass
class _Cue:
    start: float | None
    end: float | None
    lines: list[str] = field(default_factory=list)


def read_subtitles(data: bytes, name: str) -> str:
    """Cue texts joined into paragraphs: "Speaker: words..." separated by blank lines."""
    return _running_text(_parse(clean(decode(data, name))))


def _parse(text: str) -> list[_Cue]:
    """Cues of an SRT or VTT file; tolerant of missing numbers and stray blank lines."""
    cues: list[_Cue] = []
    for index, block in enumerate(_BLOCK_SEPARATOR.split(text.strip())):
        lines = block.split("\n")
        first = lines[0].strip()
        if _SKIPPED_BLOCK.match(first):
            continue
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            if index == 0 and first.startswith("WEBVTT"):
                continue
            # Text without a timing line: a cue with a blank line inside it, most likely.
            # A lone number is a cue number whose cue lost its timing line.
            cues.append(_Cue(None, None, [ln for ln in lines if not ln.strip().isdigit()]))
            continue
        start, _, end = lines[timing].partition("-->")
        end_parts = end.split()
        cues.append(
            _Cue(
                _seconds(start.strip()),
                _seconds(end_parts[0] if end_parts else ""),
                lines[timing + 1 :],
            )
        )
    return cues


def _seconds(stamp: str) -> float | None:
    match = _TIME.match(stamp)
    if not match:
        return None
    hours, minutes, seconds, millis = match.groups()
    fraction = int((millis or "0").ljust(3, "0")) / 1000
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + fraction


def _clean_line(raw: str) -> tuple[str | None, bool, str]:
    """(voice from <v Name>, whether '>>' marks a new speaker, the bare text)."""
    voice_match = _VOICE.search(raw)
    voice = " ".join(voice_match.group(1).split()) if voice_match else None
    line = raw.strip()
    change = bool(_SPEAKER_CHANGE.match(line))
    line = _SPEAKER_CHANGE.sub("", line)
    line = " ".join(html.unescape(_MARKUP.sub("", line)).split())
    if _SOUND.match(line):
        line = ""
    return voice or None, change, line


def _running_text(cues: list[_Cue]) -> str:
    paragraphs: list[str] = []
    current: list[str] = []
    speaker: str | None = None
    last_line = ""
    last_end: float | None = None

    def flush() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for cue in cues:
        paused = (
            cue.start is not None
            and last_end is not None
            and cue.start - last_end >= _PARAGRAPH_PAUSE_S
        )
        spoke = False
        for raw in cue.lines:
            voice, change, line = _clean_line(raw)
            # Rolling captions (YouTube) repeat the previous cue's last line.
            if not line or line == last_line:
                continue
            last_line = line
            new_speaker = voice is not None and voice != speaker
            finished = bool(current) and current[-1].endswith(_SENTENCE_END)
            if new_speaker or change or (paused and finished):
                flush()
            paused = False
            spoke = True
            if voice is not None:
                speaker = voice
            elif change:
                speaker = None
            current.append(f"{speaker}: {line}" if not current and speaker else line)
        # Pauses are measured between spoken cues: "[Applause]" is part of the pause.
        if spoke and cue.end is not None:
            last_end = cue.end
    flush()
    return "\n\n".join(paragraphs)
