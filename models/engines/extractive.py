"""The offline engine: LexRank over TF-IDF sentence vectors, for any of en/hi/ru.

No model weights: it ranks the transcript's own sentences and picks central, non-redundant
ones, so every point is a source sentence (trimmed) that cites itself.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from models.base import Point, SourceSentence, SummaryRequest, SummaryResult
from models.text import words

_DAMPING = 0.85
_EDGE_THRESHOLD = 0.08
_MIN_WORDS = 5
# Blend of centrality within the topic, across the briefing, and an early-position prior.
_TOPIC_WEIGHT, _GLOBAL_WEIGHT, _POSITION_WEIGHT = 0.6, 0.25, 0.15
_CLAUSE_BREAKS = (";", ",", " — ", " – ", ":")


class ExtractiveSummariser:
    name = "extractive"

    def __init__(self, stopwords: Mapping[str, frozenset[str]], redundancy: float = 0.5) -> None:
        self._stopwords = stopwords
        self._redundancy = redundancy

    def summarise(self, request: SummaryRequest) -> SummaryResult:
        sentences = list(request.sentences)
        vectors = self._tfidf(sentences)
        similarity = vectors @ vectors.T
        centrality = lexrank(similarity)
        position = np.array([1.0 / (1.0 + i / 10) for i in range(len(sentences))])
        row = {s.id: i for i, s in enumerate(sentences)}
        headline_row = self._headline_row(sentences, centrality, position)

        points: dict[str, list[Point]] = {}
        for topic_id, ids in request.topics:
            rows = [row[i] for i in ids if i in row]
            if request.title_id is None:
                # The headline already says it: a topic repeats it only when it has nothing else.
                rows = [r for r in rows if r != headline_row] or rows
            if not rows:
                continue
            local = lexrank(similarity[np.ix_(rows, rows)])
            score = (
                _TOPIC_WEIGHT * local / max(local.max(), 1e-9)
                + _GLOBAL_WEIGHT * centrality[rows] / max(centrality.max(), 1e-9)
                + _POSITION_WEIGHT * position[rows]
            )
            chosen = self._pick(rows, score, similarity, sentences, request.max_points)
            points[topic_id] = [
                Point(
                    trim(sentences[r].text, request.max_words),
                    (sentences[r].id,),
                    sentences[r].language,
                )
                for r in sorted(chosen)
            ]
        headline = Point(
            trim(sentences[headline_row].text, request.headline_max_words),
            (sentences[headline_row].id,),
            sentences[headline_row].language,
        )
        return SummaryResult(
            headline=headline,
            points=points,
            language=request.language,
            engine=self.name,
            route=[f"extract:{request.language}"],
        )

    def _tfidf(self, sentences: Sequence[SourceSentence]) -> np.ndarray:
        docs = [
            [w for w in words(s.text) if w not in self._stopwords.get(s.language, frozenset())]
            for s in sentences
        ]
        vocabulary: dict[str, int] = {}
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(set(doc))
            for w in doc:
                vocabulary.setdefault(w, len(vocabulary))
        matrix = np.zeros((len(docs), max(len(vocabulary), 1)))
        n = len(docs)
        for r, doc in enumerate(docs):
            for w, tf in Counter(doc).items():
                matrix[r, vocabulary[w]] = (1 + math.log(tf)) * (
                    math.log((1 + n) / (1 + df[w])) + 1
                )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1, norms)

    def _pick(
        self,
        rows: list[int],
        score: np.ndarray,
        similarity: np.ndarray,
        sentences: Sequence[SourceSentence],
        limit: int,
    ) -> list[int]:
        """Best first, skipping near-repeats of a chosen sentence and fragments."""
        order = sorted(range(len(rows)), key=lambda k: -score[k])
        substantial = [k for k in order if len(words(sentences[rows[k]].text)) >= _MIN_WORDS]
        chosen: list[int] = []
        for k in substantial or order:
            r = rows[k]
            if all(similarity[r, c] < self._redundancy for c in chosen):
                chosen.append(r)
            if len(chosen) == limit:
                break
        return chosen

    @staticmethod
    def _headline_row(
        sentences: Sequence[SourceSentence], centrality: np.ndarray, position: np.ndarray
    ) -> int:
        score = centrality / max(centrality.max(), 1e-9) + position
        candidates = [i for i, s in enumerate(sentences) if len(words(s.text)) >= _MIN_WORDS]
        return max(candidates or range(len(sentences)), key=lambda i: score[i])


def lexrank(similarity: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Stationary distribution of the thresholded similarity graph (continuous LexRank)."""
    n = similarity.shape[0]
    if n == 1:
        return np.ones(1)
    graph = np.where(similarity >= _EDGE_THRESHOLD, similarity, 0.0)
    np.fill_diagonal(graph, 0.0)
    sums = graph.sum(axis=1, keepdims=True)
    transition = np.where(sums > 0, graph / np.where(sums == 0, 1, sums), 1.0 / n)
    scores = np.full(n, 1.0 / n)
    for _ in range(iterations):
        updated = (1 - _DAMPING) / n + _DAMPING * transition.T @ scores
        if np.abs(updated - scores).sum() < 1e-8:
            return updated
        scores = updated
    return scores


def trim(text: str, max_words: int) -> str:
    """Cut a long sentence at the last clause break within ``max_words``, else at the limit."""
    tokens = text.split()
    if len(tokens) <= max_words:
        return text
    head = " ".join(tokens[:max_words])
    cut = max(head.rfind(mark) for mark in _CLAUSE_BREAKS)
    if cut > len(head) // 2:
        head = head[:cut]
    return head.rstrip(" ,;:—–") + "…"
