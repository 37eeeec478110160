"""Time and peak memory of one digest of a very large generated transcript.

    python bench/large_input.py [--kind transcript|lines] [--mb 2] [--lines 100000]
                                [--engine extractive] [--stage pipeline|summary] [--cores 2]
                                [--json]

``transcript``: a hard-wrapped briefing of ~MB megabytes (speaker turns, questions, long
paragraphs) built from the bundled samples' sentences, reshuffled with varied numbers so no
two sentences are equal. ``lines``: that many short lines, one sentence each.
``--stage summary`` times the summary engine alone: each line is a sentence, one topic holds
most of them and ten smaller topics the rest (segmenting and topic finding are not timed).
Prints the seconds, the peak RSS of this process (VmHWM) and the digest's size; ``--json``
prints one JSON object instead (tests/test_memory_bounds.py runs this under an address-space
limit).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.model import Document
from digest.pipeline import Pipeline
from digest.render import render
from models.base import SourceSentence, SummaryRequest
from models.runtimes.embeddings import shared_embedder
from settings import PROJECT_ROOT, load_settings

_SPEAKERS = ("MR. KIRBY:", "Q", "Official Spokesperson:", "MODERATOR:")


def sample_sentences() -> list[str]:
    text = (PROJECT_ROOT / "samples" / "en_briefing.txt").read_text(encoding="utf-8")
    parts = re.split(r"(?<=[.?!])\s+", " ".join(text.split()))
    return [p for p in parts if len(p.split()) >= 5]


def _vary(sentence: str, rng: random.Random) -> str:
    """A sentence made distinct: a number, a reordering of its clauses, a dropped word."""
    tokens = sentence.rstrip(".?!").split()
    if len(tokens) > 8 and rng.random() < 0.5:
        del tokens[rng.randrange(1, len(tokens) - 1)]
    return f"{' '.join(tokens)} in round {rng.randrange(1, 10_000)}."


def transcript(megabytes: float, seed: int = 7) -> str:
    rng = random.Random(seed)
    pool = sample_sentences()
    target = int(megabytes * 1_000_000)
    paragraphs: list[str] = ["Press briefing by the Official Spokesperson (generated)"]
    size = 0
    while size < target:
        speaker = rng.choice(_SPEAKERS)
        body = " ".join(_vary(rng.choice(pool), rng) for _ in range(rng.randrange(2, 9)))
        if speaker == "Q":
            body = body.rstrip(".") + "?"
        # Hard-wrapped at ~72 characters, as in pasted PDF text.
        wrapped = re.sub(r"(.{1,72})(?:\s+|$)", r"\1\n", body).rstrip()
        paragraphs.append(f"{speaker} {wrapped}" if speaker != "Q" else f"Q\n{wrapped}")
        size += len(paragraphs[-1].encode()) + 2
    return "\n\n".join(paragraphs)


def short_lines(count: int, seed: int = 11) -> str:
    rng = random.Random(seed)
    pool = [" ".join(s.split()[:6]).rstrip(",;:") for s in sample_sentences()]
    return "\n".join(f"{rng.choice(pool)} {i}." for i in range(count))


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's VmHWM is this program's own: ru_maxrss would start from
    the RSS of the process that forked it (a pytest run holding a model reports that)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("transcript", "lines"), default="transcript")
    parser.add_argument("--mb", type=float, default=2.0, help="transcript size in megabytes")
    parser.add_argument("--lines", type=int, default=100_000, help="number of short lines")
    parser.add_argument("--engine", default="extractive")
    parser.add_argument("--stage", choices=("pipeline", "summary"), default="pipeline")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to run on")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[: args.cores]))
    text = transcript(args.mb) if args.kind == "transcript" else short_lines(args.lines)
    settings = load_settings(environ={})
    pipeline = Pipeline(settings)
    if args.stage == "summary":
        result = summary_only(pipeline, text, args.engine)
    else:
        result = whole_pipeline(pipeline, text, args.kind, args.engine)
    result = {"kind": args.kind, "stage": args.stage, **result}
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>14}: {value}")


def summary_only(pipeline: Pipeline, text: str, engine: str) -> dict[str, object]:
    lines = [line for line in text.splitlines() if line.strip()]
    sentences = [SourceSentence(i, line, "en") for i, line in enumerate(lines)]
    small = [(f"topic-{k}", list(range(k, len(lines) // 10, 10))) for k in range(10)]
    request = SummaryRequest(
        "en", sentences, [("other", list(range(len(lines) // 10, len(lines)))), *small]
    )
    choice = pipeline.registry.summariser(engine)
    before = peak_rss_mb()
    started = time.perf_counter()
    summary = choice.summariser.summarise(request)
    seconds = time.perf_counter() - started
    embedded = shared_embedder(pipeline.settings.embeddings).misses
    return {
        "engine": summary.engine,
        "embedded": embedded,
        "input_bytes": len(text.encode()),
        "sentences": len(sentences),
        "topics": len(summary.points),
        "bullets": sum(len(points) for points in summary.points.values()),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_mb": round(before, 1),
    }


def whole_pipeline(pipeline: Pipeline, text: str, kind: str, engine: str) -> dict[str, object]:
    before = peak_rss_mb()
    started = time.perf_counter()
    digests = pipeline.run(Document(f"large-{kind}.txt", text, "txt"), ["en"], engine)
    markdown = render(digests["en"], "md", pipeline.resources)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    return {
        "engine": digests["en"].engine,
        "input_bytes": len(text.encode()),
        "sentences": len(digests["en"].sentences),
        "topics": len(digests["en"].topics),
        "bullets": sum(len(t.bullets) for t in digests["en"].topics),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "rss_before_mb": round(before, 1),
        "digest_chars": len(markdown),
    }


if __name__ == "__main__":
    main()
