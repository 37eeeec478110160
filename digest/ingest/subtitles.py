"""SRT and WebVTT subtitles: the spoken words as running text, speakers kept.

webvtt-py reads the file's structure (cues, timings, NOTE/STYLE/REGION blocks) for both
formats. The ``srt`` package was measured and not used: its file regex backtracks
cubically (a line of 2,000 digits took 68 s). webvtt-py's own tag stripping (``<.*?>``)
and voice pattern are quadratic on a long line without ">", so the cue text is cleaned here
with patterns that are linear: each ``[^<>]*`` stops at the next "<", so the spans scanned
from successive "<" never overlap.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from digest.ingest.encoding import clean, decode, fail

_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?\s([^<>]*)>", re.I)
# Markup tags (<i>, <c.yellow>, <font ...>), VTT inline timestamps (<00:01.000>) and ASS
# overrides ({\an8}).
_MARKUP = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")
# "[Music]", "(APPLAUSE)", "♪ ... ♪": sound descriptions, not speech. Anchored (match), so
# each alternative scans the line once.
_SOUND = re.compile(r"(?:\[[^\]]*\]|\([^)]*\)|♪.*)$")
# Broadcast captions mark a change of speaker with ">>".
_SPEAKER_CHANGE = re.compile(r">>\s*")
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
    return _running_text(_parse(clean(decode(data, name)), name))


def _parse(text: str, name: str) -> list[_Cue]:
    """Cues of a WebVTT file (recognised by its header) or else of a SubRip file."""
    import webvtt  # imported here: only subtitles need it
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    body = text.lstrip(" \t\n")
    is_vtt = body.startswith("WEBVTT")
    try:
        captions = webvtt.WebVTT.from_buffer(
            io.StringIO(body), format="vtt" if is_vtt else "srt"
        ).captions
        return [
            _Cue(
                caption.start_time.in_milliseconds() / 1000,
                caption.end_time.in_milliseconds() / 1000,
                list(caption.lines),
            )
            for caption in captions
        ]
    except (MalformedFileError, MalformedCaptionError) as exc:
        if not is_vtt and str(exc) == "Invalid format":
            # webvtt-py's words for an SRT that does not open with a cue.
            reason = "it does not start with a cue number and a timing line"
            raise fail(name, f"not a valid SubRip (.srt) file: {reason}") from exc
        kind = "WebVTT" if is_vtt else "SubRip (.srt)"
        raise fail(name, f"not a valid {kind} file ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    # A timestamp quoted from a hostile file could be long; the message stays one short line.
    return reason if len(reason) <= 80 else reason[:77] + "..."


def _clean_line(raw: str) -> tuple[str | None, bool, str]:
    """(voice from <v Name>, whether '>>' marks a new speaker, the bare text)."""
    voice_match = _VOICE.search(raw)
    voice = " ".join(voice_match.group(1).split()) if voice_match else None
    line = raw.strip()
    change = bool(_SPEAKER_CHANGE.match(line))
    line = _SPEAKER_CHANGE.sub("", line, count=1) if change else line
    line = " ".join(html.unescape(_MARKUP.sub("", line)).split())
    if _SOUND.match(line):
        line = ""
    return voice or None, change, line


def _running_text(cues: Sequence[_Cue]) -> str:
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
