"""Briefings per second of the offline engine on one core (a benchmark, not a test).

    python bench/offline_throughput.py [--seconds 10] [--lang en]

Runs the whole pipeline (segment, topics, extractive summary, entities, Markdown) over the
bundled samples and ../shared/samples, in one process, and prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One core, as the target says, and before numpy loads: its BLAS sizes its thread pool at
# import, and two BLAS threads pinned to one core wait on each other (natasha's tagger ran
# 4x slower that way).
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

from digest.ingest import read_path
from digest.pipeline import Pipeline
from digest.render import render
from settings import PROJECT_ROOT, load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per sample")
    parser.add_argument("--lang", default="en", help="output language(s), comma separated")
    args = parser.parse_args()
    settings = load_settings()
    pipeline = Pipeline(settings)
    paths = sorted((PROJECT_ROOT / "samples").glob("*.txt"))
    paths += sorted((PROJECT_ROOT.parent / "shared" / "samples").glob("*.txt"))
    languages = args.lang.split(",")
    print(f"{'sample':32} {'words':>6} {'briefings/s':>12} {'ms/briefing':>12}")
    rates = []
    for path in paths:
        doc = read_path(path, settings.ingest.max_bytes)
        # One untimed run first: a language's dictionaries and taggers load on first use
        # (natasha takes seconds), which a long-running bot pays once.
        pipeline.run(doc, languages)
        runs, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.seconds:
            for digest in pipeline.run(doc, languages).values():
                render(digest, "md", pipeline.resources)
            runs += 1
        elapsed = time.perf_counter() - started
        rates.append(runs / elapsed)
        words, rate, ms = len(doc.text.split()), runs / elapsed, 1000 * elapsed / runs
        print(f"{path.name:32} {words:>6} {rate:>12.1f} {ms:>12.1f}")
    print(f"{'median':32} {'':>6} {statistics.median(rates):>12.1f}")


if __name__ == "__main__":
    main()
