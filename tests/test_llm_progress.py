"""Streaming progress of the LLM digest: topics done of planned, from the partial JSON answer,
at most once every 2 s, handed to the pipeline's progress callback (the bot's status line)."""

from __future__ import annotations

import itertools
import json
from functools import partial
from pathlib import Path
from typing import Any

from digest.ingest import read_path
from digest.pipeline import Pipeline, Progress
from models.base import SummaryRequest, SummaryResult
from models.engines.llm_progress import (
    StreamingSummariser,
    TopicProgress,
    completed_topics,
)
from models.registry import EngineChoice
from settings import load_settings

ANSWER = json.dumps(
    {
        "headline": "Ministers {met} in [Moscow]",
        "topics": [
            {"id": "trade", "bullets": [{"text": 'Trade "grew" {a lot}', "evidence": [1, 2]}]},
            {"id": "energy", "bullets": [{"text": "Oil", "evidence": [3]}]},
            {"id": "consular", "bullets": []},
        ],
    }
)


def test_topics_count_when_their_object_closes() -> None:
    prefixes = [ANSWER[:n] for n in range(len(ANSWER) + 1)]
    counts = [completed_topics(p) for p in prefixes]
    assert counts[-1] == 3 and counts[0] == 0
    assert counts == sorted(counts)  # never goes back while the answer grows
    # Braces and brackets inside strings (headline, bullet text) are not structure.
    first_done = counts.index(1)
    assert ANSWER[:first_done].endswith("[1, 2]}]}")
    assert completed_topics('{"headline": "x", "topics": [{"id": "a", "bullets": [{') == 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reports_at_most_once_every_two_seconds() -> None:
    clock = Clock()
    reports: list[tuple[int, int, float]] = []
    progress = TopicProgress(3, lambda d, p: reports.append((d, p, clock.now)), clock=clock)
    for n in range(0, len(ANSWER) + 1, 4):
        progress(ANSWER[:n])
        clock.now += 0.5  # the engine's streamer calls every 0.5 s
    progress(ANSWER)
    assert reports and reports[-1][1] == 3
    times = [t for _, _, t in reports]
    assert all(b - a >= 2.0 for a, b in itertools.pairwise(times))
    assert [d for d, _, _ in reports] == sorted({d for d, _, _ in reports})


def test_a_new_answer_adds_to_the_topics_already_done() -> None:
    clock = Clock()
    reports: list[tuple[int, int]] = []
    progress = TopicProgress(5, lambda d, p: reports.append((d, p)), clock=clock)
    progress(ANSWER)  # chunk 1: 3 topics
    clock.now += 3
    progress('{"headline": "x", "topics": [{"id": "defence", "bullets": []}')  # chunk 2
    assert reports == [(3, 5), (4, 5)]
    assert progress.done == 4


class StreamingStub:
    """A streaming engine writing ANSWER in pieces, each a little later."""

    name = "llm"
    streams_answer = True

    def __init__(self, clock: Clock, fallback: Any) -> None:
        self.clock = clock
        self.fallback = fallback

    def summarise(self, request: SummaryRequest, on_text: Any = None) -> SummaryResult:
        for n in range(0, len(ANSWER) + 1, 8):
            self.clock.now += 1.0
            on_text(ANSWER[:n])
        return self.fallback.summarise(request)


def test_the_pipeline_hands_llm_progress_to_its_progress_callback(
    monkeypatch: Any,
) -> None:
    clock = Clock()
    monkeypatch.setattr("digest.pipeline.TopicProgress", partial(TopicProgress, clock=clock))
    settings = load_settings(environ={})
    pipeline = Pipeline(settings)
    stub = StreamingStub(clock, pipeline.registry.extractive())
    assert isinstance(stub, StreamingSummariser)
    monkeypatch.setattr(pipeline.registry, "summariser", lambda engine=None: EngineChoice(stub))
    steps: list[Progress] = []
    sample = Path(__file__).resolve().parent.parent / "samples" / "en_briefing.txt"
    doc = read_path(sample, settings.ingest)
    pipeline.run(doc, ["en"], "llm", steps.append)
    summarising = [s for s in steps if s.stage == "summarising"]
    streamed = summarising[:-1]
    assert streamed and all(s.total == summarising[-1].total for s in streamed)
    assert [s.done for s in streamed] == sorted(s.done for s in streamed)
    assert summarising[-1].done == summarising[-1].total  # the pipeline's own final report
