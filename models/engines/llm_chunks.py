"""Cutting an LLM request into chunks whose prompts fit the context window, and choosing the
candidate sentences a bounded prompt holds (:func:`candidates`).

One chunk when the whole transcript fits, else only the sentences the topics cite, else
per-topic chunks packed greedily by estimated token cost (topics kept whole where they fit),
each checked by rendering its prompt and halved until it fits; a single sentence too long for
any chunk is shortened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from models.base import ModelUnavailableError, SourceSentence, SummaryRequest
from models.engines.llm_output import OutputError
from models.runtimes.chat_tokens import count_tokens, render_chat

if TYPE_CHECKING:
    from models.engines.llm_prompts import PromptBuilder

log = logging.getLogger(__name__)

# Tokens kept free below the window: token counts of a rendered chunk are estimates.
SAFETY_TOKENS = 16

TopicSentences = tuple[str, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Chunk:
    """Part of a request prompted at once: its sentences and (topic id, sentence ids)."""

    sentences: tuple[SourceSentence, ...]
    topics: tuple[TopicSentences, ...]


class ChunkPlanner:
    """Chunks of a request whose rendered prompts take at most ``budget`` tokens of
    ``tokenizer``."""

    def __init__(self, prompts: PromptBuilder, tokenizer: Any, budget: int) -> None:
        self.prompts = prompts
        self.tokenizer = tokenizer
        self.budget = budget

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> int:
        return count_tokens(self.tokenizer, render_chat(self.tokenizer, messages))

    def plan(self, request: SummaryRequest) -> list[Chunk]:
        """The request as chunks whose prompts fit: one when the whole fits."""
        by_id = {s.id: s for s in request.sentences}
        topics = [(tid, tuple(i for i in ids if i in by_id)) for tid, ids in request.topics]
        topics = [(tid, ids) for tid, ids in topics if ids]
        if not topics:
            raise OutputError(["the request has no topic sentences"])
        whole = Chunk(tuple(request.sentences), tuple(topics))
        if self._fits(request, whole):
            return [whole]
        needed = sorted({i for _, ids in topics for i in ids})
        cited = Chunk(tuple(by_id[i] for i in needed), tuple(topics))
        if self._fits(request, cited):
            return [cited]
        return self._pack(request, topics, by_id)

    def fits(self, request: SummaryRequest, chunk: Chunk) -> bool:
        """Whether ``chunk`` prompted whole fits the budget."""
        return self._fits(request, chunk)

    def _fits(self, request: SummaryRequest, chunk: Chunk, parts: int = 1) -> bool:
        messages = self.prompts.messages(request, chunk, parts, parts)
        return self.prompt_tokens(messages) <= self.budget

    def _pack(
        self,
        request: SummaryRequest,
        topics: Sequence[TopicSentences],
        by_id: Mapping[int, SourceSentence],
    ) -> list[Chunk]:
        """Greedy per-topic packing by estimated token cost, each chunk checked by rendering.

        A topic goes whole into the current chunk when it fits, else starts a new chunk; a
        topic larger than a chunk is split into runs of sentences. A sentence too long for any
        chunk is shortened.
        """
        # Overhead of an empty chunk, and per-line costs (a topic line, a sentence line).
        base = (
            self.prompt_tokens(self.prompts.messages(request, Chunk((), ()), 99, 99))
            + SAFETY_TOKENS
        )

        def line_cost(text: str) -> int:
            return count_tokens(self.tokenizer, text + "\n") + 1

        room = self.budget - base
        sentence_cost = {i: line_cost(f"[{i}] {by_id[i].text}") for _, ids in topics for i in ids}
        topic_cost = {
            tid: line_cost(f"- {tid} — {self.prompts.title(tid, request.language) or ''} — ")
            + 2 * len(ids)
            for tid, ids in topics
        }
        # Glossary lines depend on the text; leave them a share of the room.
        glossary_room = min(room // 4, 16 * len(self.prompts.glossary))
        room -= glossary_room
        groups: list[list[tuple[str, list[int]]]] = [[]]
        used = 0
        for tid, ids in topics:
            total = topic_cost[tid] + sum(sentence_cost[i] for i in ids)
            if used + total > room and groups[-1] and total <= room:
                groups.append([])
                used = 0
            current = groups[-1]
            current.append((tid, []))
            used += topic_cost[tid]
            for i in ids:
                cost = sentence_cost[i]
                if used + cost > room and current[-1][1]:
                    groups.append([(tid, [])])
                    current = groups[-1]
                    used = topic_cost[tid]
                current[-1][1].append(i)
                used += cost
        groups = [g for g in groups if any(ids for _, ids in g)]
        chunks = [chunk_of(g, by_id) for g in groups]
        # Check each by rendering; split any that do not fit after all.
        result: list[Chunk] = []
        pending = list(chunks)
        while pending:
            chunk = pending.pop(0)
            if self._fits(request, chunk, len(chunks)):
                result.append(chunk)
                continue
            halves = halve(chunk)
            if halves is None:
                result.append(self._shorten(request, chunk))
            else:
                pending[:0] = halves
        log.info("llm prompt split", extra={"chunks": len(result), "budget": self.budget})
        return result

    def _shorten(self, request: SummaryRequest, chunk: Chunk) -> Chunk:
        """A one-sentence chunk cut (by words) until its prompt fits."""
        sentence = chunk.sentences[0]
        tokens = sentence.text.split()
        while len(tokens) > 1:
            tokens = tokens[: max(1, len(tokens) * 3 // 4)]
            shorter = replace(chunk, sentences=(replace(sentence, text=" ".join(tokens) + " …"),))
            if self._fits(request, shorter):
                log.warning("llm: sentence %d shortened to fit the context window", sentence.id)
                return shorter
        raise ModelUnavailableError(
            f"sentence {sentence.id} does not fit the context window even when shortened"
        )


def chunk_of(
    group: Sequence[tuple[str, Sequence[int]]], by_id: Mapping[int, SourceSentence]
) -> Chunk:
    """The chunk holding ``group``'s topics and, in order, the sentences they cite."""
    ids = sorted({i for _, tids in group for i in tids})
    return Chunk(tuple(by_id[i] for i in ids), tuple((tid, tuple(t)) for tid, t in group if t))


def halve(chunk: Chunk) -> list[Chunk] | None:
    """The chunk as two, split between topics or else within its one topic."""
    if len(chunk.topics) > 1:
        middle = len(chunk.topics) // 2
        groups = [chunk.topics[:middle], chunk.topics[middle:]]
    else:
        tid, ids = chunk.topics[0]
        if len(ids) < 2:
            return None
        middle = len(ids) // 2
        groups = [((tid, ids[:middle]),), ((tid, ids[middle:]),)]
    by_id = {s.id: s for s in chunk.sentences}
    return [chunk_of(g, by_id) for g in groups]


# Sentence ids of each topic, best first (the offline engine's ranking).
TopicOrder = Mapping[str, Sequence[int]]


def candidates(request: SummaryRequest, order: TopicOrder, fits: Callable[[Chunk], bool]) -> Chunk:
    """The best-ranked sentences of every topic, as many per topic as let the prompt fit.

    The same number ``k`` of candidates is taken from every topic (fewer where a topic has
    fewer), the largest ``k`` whose chunk ``fits``; sentences keep their ids, so the answer's
    citations are checked against them as against the whole transcript. When even one
    sentence per topic does not fit, that chunk is returned and the planner splits it.
    """
    by_id = {s.id: s for s in request.sentences}
    ranked = []
    for tid, ids in request.topics:
        members = [i for i in ids if i in by_id]
        best = [i for i in order.get(tid, ()) if i in members] or members
        ranked.append((tid, best + [i for i in members if i not in best]))

    def chunk(k: int) -> Chunk:
        return chunk_of([(tid, sorted(ids[:k])) for tid, ids in ranked], by_id)

    low, high = 1, max((len(ids) for _, ids in ranked), default=1)
    while low < high:  # the largest k that fits (fitting shrinks as k grows)
        middle = (low + high + 1) // 2
        if fits(chunk(middle)):
            low = middle
        else:
            high = middle - 1
    return chunk(low)
