"""Hostile inputs (issue 12): each is digested or refused with one line, within time and memory.

Every input is read by a child process (``python -m tests.test_hostile_inputs``) that caps its
own address space, so a regression fails the test instead of exhausting the machine, and whose
wall time the parent bounds, so a hang fails instead of stalling the suite. The child reports,
per input, its CPU time (steady on a loaded machine, unlike wall time) and how far the peak
resident set grew while reading it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINE = 400_000  # bytes of one pathological line (issue 12, item 3)
CPU_LIMIT_S = 2.0  # per 400 KB line (issue 12, item 3)
# The child may map this much beyond what it has mapped after its imports.
ADDRESS_SPACE_HEADROOM = 1_500_000_000


@dataclass(frozen=True)
class Outcome:
    label: str
    status: str  # "digested", "refused" or "crashed"
    message: str
    cpu_s: float
    wall_s: float
    rss_growth_mb: float


def line(construct: str, size: int = LINE) -> str:
    return (construct * (size // len(construct) + 1))[:size]


def run_child(
    tmp_path: Path,
    cases: dict[str, tuple[str, bytes]],
    timeout_s: float,
    limits: dict[str, int] | None = None,
) -> dict[str, Outcome]:
    """Read each (file name, bytes) in one child process; a hang fails naming the input."""
    spec = []
    for index, (label, (name, data)) in enumerate(cases.items()):
        folder = tmp_path / f"case{index}"
        folder.mkdir()
        (folder / name).write_bytes(data)
        spec.append({"label": label, "path": str(folder / name)})
    spec_path = tmp_path / "cases.json"
    spec_path.write_text(json.dumps({"cases": spec, "limits": limits or {}}), encoding="utf-8")
    command = [sys.executable, "-m", "tests.test_hostile_inputs", str(spec_path)]
    try:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        stdout, stderr = result.stdout, result.stderr
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr = ""
    outcomes = {o.label: o for o in (Outcome(**json.loads(x)) for x in stdout.splitlines())}
    missing = [label for label in cases if label not in outcomes]
    assert not missing, f"no answer within {timeout_s:.0f} s from {missing[0]!r}; {stderr[-2000:]}"
    return outcomes


def check_bounded(outcomes: dict[str, Outcome], cpu_limit_s: float, rss_limit_mb: float) -> None:
    problems = [
        f"{o.label!r}: {o.status}, {o.cpu_s:.2f} s CPU, +{o.rss_growth_mb:.0f} MB ({o.message})"
        for o in outcomes.values()
        if o.status == "crashed" or o.cpu_s > cpu_limit_s or o.rss_growth_mb > rss_limit_mb
    ]
    assert not problems, "\n".join(problems)
    for o in outcomes.values():
        assert "\n" not in o.message and (o.status == "digested" or o.message)


# --- item 3: regular-expression blow-up -------------------------------------------------

MARKDOWN_CONSTRUCTS = [
    "**a ", "*a ", "_a ", "__a ", "~~a ", "`a ", "a_", "*_", "**_a", "*a**", "\\*",
    "[a](", "[a](b ", "[a]", "[", "](", "![", "![a](", "[![a](", "[a]: ", "<http://",
    "<!--", "<!-- -", "<b>", "<a href=", "<", "&amp;", "&#", "# ", "> ", "- ", "1. ", "|a",
    "a  \n", "a\n=\n", "|-|\n", "a|b\n-|-\n", "> - ", "    a\n", "```", "<div>\n",
]  # fmt: skip
SRT_HEAD = "1\n00:00:01,000 --> 00:00:02,000\n"
VTT_HEAD = "WEBVTT\n\n00:00.000 --> 00:01.000\n"
CUE_CONSTRUCTS = [
    "<b", "<b>", "<i>a</i", "<v a", "<v ", "<v.loud a", "{\\", "{\\an8}", "[", "(", "♪",
    ">>", "&amp;", "<00:00.000>", "<c.", "0", "-->", " a",
]  # fmt: skip
SRT_FILES = [
    "0", "0.", "-->", "1\n", " ", "00:00:01,000 --> ", "00:00:01,000 --> 00:00:02,000\n",
    "1\n00:00:01,000 --> 00:00:02,000\nwords\n\n",
]  # fmt: skip
VTT_FILES = [
    "0", "-->", "NOTE ", "STYLE\n", " ", "00:00.000 --> ", "00:00.000 --> 00:01.000 align:",
    "00:00.000 --> 00:01.000\nwords\n\n", "\n\n",
]  # fmt: skip
HTML_CONSTRUCTS = [
    "<div>", "<p>", "<br>", "<b>", "<!--", "<a", "</", "<![", "<?", "&#", "<script>",
    "<table><tr><td>", "<a href='", "<p>word ", "<span>a</span>",
]  # fmt: skip
TEXT_LINES = ["\r", "a\u0301", "\x00", "\ufeff", "Ё" * 3 + "\n"]


@functools.cache
def markup_cases() -> dict[str, tuple[str, bytes]]:
    cases: dict[str, tuple[str, bytes]] = {}
    for c in MARKDOWN_CONSTRUCTS:
        cases[f"md {c!r}"] = ("hostile.md", line(c).encode())
    for c in CUE_CONSTRUCTS:
        cases[f"srt cue {c!r}"] = ("hostile.srt", (SRT_HEAD + line(c) + "\n").encode())
        cases[f"vtt cue {c!r}"] = ("hostile.vtt", (VTT_HEAD + line(c) + "\n").encode())
    for c in SRT_FILES:
        cases[f"srt file {c!r}"] = ("hostile.srt", line(c).encode())
    for c in VTT_FILES:
        cases[f"vtt file {c!r}"] = ("hostile.vtt", ("WEBVTT\n\n" + line(c)).encode())
    for c in HTML_CONSTRUCTS:
        cases[f"html {c!r}"] = ("hostile.html", ("<html><body>" + line(c)).encode())
    for c in TEXT_LINES:
        cases[f"txt {c!r}"] = ("hostile.txt", line(c).encode())
    # Alternate UTF-8 and windows-1251 lines: the mixed-encoding decoder on 400 KB.
    mixed = b"".join(f"Строка {i}\n".encode("utf-8" if i % 2 else "cp1251") for i in range(30_000))
    cases["txt mixed encodings"] = ("hostile.txt", mixed[:LINE])
    return cases


@pytest.mark.parametrize("kind", ["md", "srt", "vtt", "html", "txt"])
def test_pathological_lines_are_linear(tmp_path: Path, kind: str) -> None:
    cases = {k: v for k, v in markup_cases().items() if k.startswith(kind)}
    # Today's quadratic code spends minutes on one of these; linear code milliseconds.
    outcomes = run_child(tmp_path, cases, timeout_s=60 + 3 * len(cases))
    check_bounded(outcomes, CPU_LIMIT_S, rss_limit_mb=400)


def test_pdf_text_with_a_400_kb_word_is_unwrapped_in_linear_time() -> None:
    # PDF text extraction is pypdf's; the unwrapping after it is ours and ran its hyphenation
    # patterns from every letter of a long word (a 20,000-letter word took 6 s).
    code = (
        "import time\n"
        "from digest.ingest.pdf import unwrap_pages\n"
        f"page = 'a' * {LINE} + '\\n' + 'b' * {LINE} + '-\\n' + 'c' * {LINE}\n"
        "start = time.process_time()\n"
        "text = unwrap_pages([page, page])\n"
        "print(time.process_time() - start, len(text))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    cpu_s, length = result.stdout.split()
    assert float(cpu_s) <= CPU_LIMIT_S
    # Each page: "a…a b…bc…c"; the second continues the first (lower case): one space between.
    assert int(length) == 2 * (3 * LINE + 1) + 1


# --- item 4: DOCX zip bombs -------------------------------------------------------------

DOCX_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body>"
)
DOCX_CLOSE = b"</w:body></w:document>"


def deflated(parts: list[tuple[bytes, int]]) -> tuple[bytes, int, int]:
    """(raw deflate data, CRC-32, size) of the parts, each repeated; built without ever
    holding or compressing the whole: a full flush makes every repeat compress the same."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out: list[bytes] = []
    crc, size = 0, 0
    for chunk, count in parts:
        block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
        out.append(block * count)
        for _ in range(count):
            crc = zlib.crc32(chunk, crc)
        size += len(chunk) * count
    out.append(compressor.flush())
    return b"".join(out), crc, size


# What python-docx needs to open a package, so that the bombs reach the XML on any reader.
PACKAGE_PARTS = {
    "[Content_Types].xml": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="rels" '
        b'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/word/document.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    ),
    "_rels/.rels": (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    ),
}


def docx_archive(xml_parts: list[tuple[bytes, int]], declared_size: int | None = None) -> bytes:
    """A DOCX whose word/document.xml is the parts; its header may lie about the size."""
    members = [(name, *deflated([(data, 1)]), None) for name, data in PACKAGE_PARTS.items()]
    body = deflated([(DOCX_OPEN, 1), *xml_parts, (DOCX_CLOSE, 1)])
    members.append(("word/document.xml", *body, declared_size))
    local, central = bytearray(), bytearray()
    for name, data, crc, size, declared in members:
        encoded = name.encode()
        fields = (crc, len(data), size if declared is None else declared, len(encoded))
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *fields, 0, 0, 0, 0, 0,
            len(local),
        ) + encoded  # fmt: skip
        local += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, *fields, 0)
        local += encoded + data
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central),
        len(local), 0,
    )  # fmt: skip
    return bytes(local + central + end)


MB = 1_000_000
PARAGRAPH = b"<w:p><w:r><w:t>The minister spoke about trade.</w:t></w:r></w:p>"
HUGE_SPAN_CELL = (
    b'<w:tc><w:tcPr><w:gridSpan w:val="2147483647"/></w:tcPr>'
    b"<w:p><w:r><w:t>c</w:t></w:r></w:p></w:tc>"
)


def docx_bombs() -> dict[str, tuple[bytes, str]]:
    """label: (the .docx, the start of the refusal expected, or "" where digesting is fine)."""
    paragraphs_1mb = PARAGRAPH * (MB // len(PARAGRAPH))
    budget = "word/document.xml unpacks to more than 20.0 MB"
    return {
        # Header claims 5 KB; the data inflates to 1 GB.
        "header lying about size": (
            docx_archive([(paragraphs_1mb, 1_000)], declared_size=5_000),
            "cannot read the .docx file, it may be damaged",
        ),
        "honest 190 MB document.xml": (docx_archive([(paragraphs_1mb, 190)]), budget),
        # ~5 MB of XML from a few tens of KB: elements by the hundred thousand.
        "5 MB of table cells spanning 2^31 columns": (
            docx_archive(
                [(b"<w:tbl><w:tr>", 1), (HUGE_SPAN_CELL * 1_000, 60), (b"</w:tr></w:tbl>", 1)]
            ),
            "",
        ),
        "5 MB of empty runs in one paragraph": (
            docx_archive([(b"<w:p>", 1), (b"<w:r/>" * 10_000, 85), (b"</w:p>", 1)]),
            "no text found",
        ),
    }


@pytest.mark.parametrize("label", list(docx_bombs()))
def test_docx_bombs_are_bounded(tmp_path: Path, label: str) -> None:
    data, expected = docx_bombs()[label]
    assert len(data) < 4 * MB  # small files, each
    outcome = run_child(tmp_path, {label: ("bomb.docx", data)}, timeout_s=90)[label]
    check_bounded({label: outcome}, cpu_limit_s=15.0, rss_limit_mb=150)
    if expected:
        assert outcome.status == "refused"
        assert f"bomb.docx: {expected}" in outcome.message
    else:
        assert outcome.status in ("digested", "refused")


# --- issue 10 §4: the extracted text, not only the file, is bounded ---------------------


def test_small_docx_with_too_much_text_is_refused_with_its_own_line(tmp_path: Path) -> None:
    # 3 MB of text inside a ~10 KB file: the file limit cannot see it.
    data = docx_archive([(PARAGRAPH * 10_000, 10)])
    assert len(data) < 100_000
    outcome = run_child(tmp_path, {"long": ("long.docx", data)}, timeout_s=60)["long"]
    assert outcome.status == "refused"
    assert outcome.message.endswith(
        "the extracted text is 3,299,998 characters, over the 2,000,000-character limit "
        "(ingest.max_text_chars)"
    )


# --- item 5: special files, through the CLI -------------------------------------------


@pytest.mark.parametrize("command", ["digest", "batch"])
def test_cli_refuses_a_fifo_without_a_writer(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "briefing.txt"
    os.mkfifo(fifo)
    args = [str(fifo)] if command == "digest" else [str(fifo), "--out", str(tmp_path / "out")]
    # Today's code blocks in open() forever: the timeout turns that into a failure.
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", command, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f"{fifo}: not a regular file (a named pipe)" in result.stderr
    assert result.returncode != 0


# --- the child ----------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cap_address_space() -> None:
    with open("/proc/self/status", encoding="ascii") as status:
        mapped_kb = next(int(x.split()[1]) for x in status if x.startswith("VmSize:"))
    cap = mapped_kb * 1024 + ADDRESS_SPACE_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _child(spec_path: str) -> None:
    import logging

    from digest.errors import IngestError
    from digest.ingest import read_bytes, read_path
    from settings.schema import IngestSettings

    logging.disable(logging.WARNING)
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    limits = IngestSettings(**spec["limits"])
    # Parsers are imported on first use: warm up those needed, so that no import is measured.
    warm_ups = {
        ".md": b"*a*",
        ".srt": SRT_HEAD.encode() + b"a\n",
        ".vtt": VTT_HEAD.encode() + b"a\n",
        ".html": b"<p>a</p>",
        ".docx": docx_archive([(PARAGRAPH, 1)]),
        ".txt": b"\xe0 \xe1",
    }
    for extension in {Path(case["path"]).suffix for case in spec["cases"]}:
        with contextlib.suppress(IngestError):
            read_bytes(warm_ups[extension], f"warm-up{extension}", limits)
    _cap_address_space()
    for case in spec["cases"]:
        rss_before, cpu, wall = _peak_rss_mb(), time.process_time(), time.perf_counter()
        try:
            read_path(Path(case["path"]), limits)
            status, message = "digested", ""
        except IngestError as exc:
            status, message = "refused", str(exc)
        except BaseException as exc:  # reported: it fails the test
            status, message = "crashed", f"{type(exc).__name__}: {exc}"
        outcome = Outcome(
            label=case["label"],
            status=status,
            message=message,
            cpu_s=time.process_time() - cpu,
            wall_s=time.perf_counter() - wall,
            rss_growth_mb=_peak_rss_mb() - rss_before,
        )
        print(json.dumps(outcome.__dict__), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1])
