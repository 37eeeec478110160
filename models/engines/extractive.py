"""The offline engine: LexRank over TF-IDF sentence vectors, for any of en/hi/ru.

No model weights: it ranks the transcript's own sentences and picks central, non-redundant
ones, so every point is a source sentence (trimmed) that cites itself.

Time and memory grow linearly with the transcript. TF-IDF vectors are kept sparse; the
briefing-wide centrality is exact LexRank on a dense similarity matrix only up to
``DENSE_LIMIT`` sentences, and beyond that continuous LexRank computed without ever forming
the matrix (see :func:`implicit_lexrank`). Within a topic at most ``max_candidates`` sentences,
pre-ranked by that centrality and position, are compared pairwise.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.base import Point, SourceSentence, SummaryRequest, SummaryResult
from models.text import words

_DAMPING = 0.85
_EDGE_THRESHOLD = 0.08
MIN_WORDS = 5
HEADLINE_MIN_WORDS = 8
# Blend of centrality within the topic, across the briefing, and an early-position prior; the
# sentence's own information (below) weighs more than centrality within its topic.
_TOPIC_WEIGHT, _GLOBAL_WEIGHT, _POSITION_WEIGHT = 0.3, 0.25, 0.15
# How much a sentence's own information (figures, names, distinct content words) adds: central
# sentences alone tend to be the general ones ("we discussed cooperation").
_INFORMATION_WEIGHT = 0.8
_TOO_LONG_PENALTY = 0.25
_NUMBER = re.compile(r"\d")
_NAME = re.compile(r"(?<=\s)[A-ZА-ЯЁ][\w’'-]+")
_CLAUSE_BREAKS = (";", ",", " — ", " – ", ":")
# Up to this many sentences the briefing-wide similarity matrix is formed (1000² floats: 8 MB).
DENSE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SparseTfidf:
    """L2-normalised TF-IDF rows in CSR form: row r's entries are [indptr[r], indptr[r+1])."""

    indptr: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    n_columns: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def dense(self, rows: Sequence[int]) -> np.ndarray:
        """The given rows as a dense matrix over only the columns they use."""
        spans = [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows]
        if not spans:
            return np.zeros((0, 1))
        picked = np.concatenate(spans)
        local_columns, inverse = np.unique(self.columns[picked], return_inverse=True)
        owner = np.repeat(np.arange(len(rows)), [len(s) for s in spans])
        matrix = np.zeros((len(rows), max(len(local_columns), 1)))
        matrix[owner, inverse] = self.values[picked]
        return matrix

    def similarity(self, rows: Sequence[int]) -> np.ndarray:
        block = self.dense(rows)
        return block @ block.T

    def times(self, vector: np.ndarray) -> np.ndarray:
        """X @ vector (vector over columns)."""
        row_of = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        return np.bincount(
            row_of, weights=self.values * vector[self.columns], minlength=self.n_rows
        )

    def transposed_times(self, vector: np.ndarray) -> np.ndarray:
        """X.T @ vector (vector over rows)."""
        row_of = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        return np.bincount(
            self.columns, weights=self.values * vector[row_of], minlength=self.n_columns
        )

    def distinct_terms(self, row: int) -> int:
        return int(self.indptr[row + 1] - self.indptr[row])

    def self_similarity(self) -> np.ndarray:
        """diag(X X^T): 1 for a row with any term, 0 for an empty one."""
        row_of = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        return np.bincount(row_of, weights=self.values**2, minlength=self.n_rows)


def tfidf(
    sentences: Sequence[SourceSentence], stopwords: Mapping[str, frozenset[str]]
) -> SparseTfidf:
    docs = [
        [w for w in words(s.text) if w not in stopwords.get(s.language, frozenset())]
        for s in sentences
    ]
    vocabulary: dict[str, int] = {}
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
        for w in doc:
            vocabulary.setdefault(w, len(vocabulary))
    n = len(docs)
    idf = {w: math.log((1 + n) / (1 + count)) + 1 for w, count in df.items()}
    indptr = [0]
    columns: list[int] = []
    values: list[float] = []
    for doc in docs:
        counts = Counter(doc)
        row = [(1 + math.log(tf)) * idf[w] for w, tf in counts.items()]
        norm = math.sqrt(sum(v * v for v in row)) or 1.0
        columns.extend(vocabulary[w] for w in counts)
        values.extend(v / norm for v in row)
        indptr.append(len(columns))
    return SparseTfidf(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(columns, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        max(len(vocabulary), 1),
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    """What both engines start from: TF-IDF scores per sentence and per topic candidate."""

    sentences: list[SourceSentence]
    vectors: SparseTfidf
    centrality: np.ndarray
    position: np.ndarray
    word_counts: np.ndarray
    headline_row: int
    # topic id -> (candidate rows in document order, their blended TF-IDF scores)
    topics: dict[str, tuple[list[int], np.ndarray]]


class ExtractiveSummariser:
    name = "extractive"

    def __init__(
        self,
        stopwords: Mapping[str, frozenset[str]],
        redundancy: float = 0.5,
        max_candidates: int = 64,
    ) -> None:
        self._stopwords = stopwords
        self._redundancy = redundancy
        self._max_candidates = max_candidates

    def pick_rows(
        self, rows: list[int], score: np.ndarray, ranking: Ranking, limit: int
    ) -> list[int]:
        """:func:`pick` over ``rows`` of ``ranking`` with this engine's TF-IDF redundancy."""
        similarity = ranking.vectors.similarity(rows)
        return pick(score, similarity, ranking.word_counts[rows], self._redundancy, limit)

    def summarise(self, request: SummaryRequest) -> SummaryResult:
        ranking = self.rank(request)
        sentences = ranking.sentences
        points: dict[str, list[Point]] = {}
        for topic_id, (rows, score) in ranking.topics.items():
            chosen = self.pick_rows(rows, score, ranking, request.max_points)
            points[topic_id] = points_at(sentences, rows, chosen, request.max_words)
        return SummaryResult(
            headline=point(sentences[ranking.headline_row], request.headline_max_words),
            points=points,
            language=request.language,
            engine=self.name,
            route=[f"extract:{request.language}"],
        )

    def rank(self, request: SummaryRequest, exclude_headline: bool = True) -> Ranking:
        """Centrality across the briefing and within each topic, in bounded time and memory.

        ``exclude_headline``: leave this engine's headline out of the topics (an engine that
        chooses its own headline keeps every sentence and drops its own choice).
        """
        sentences = list(request.sentences)
        vectors = tfidf(sentences, self._stopwords)
        if len(sentences) <= DENSE_LIMIT:
            centrality = lexrank(vectors.similarity(range(len(sentences))))
        else:
            centrality = implicit_lexrank(vectors)
        position = 1.0 / (1.0 + np.arange(len(sentences)) / 10)
        word_counts = np.array([len(words(s.text)) for s in sentences], dtype=np.int64)
        global_score = centrality / max(centrality.max(initial=0.0), 1e-9)
        headline_row = _headline_row(
            global_score + position, word_counts, request.headline_max_words
        )

        row = {s.id: i for i, s in enumerate(sentences)}
        # A sentence longer than a bullet would be cut ("…"): one that fits is preferred.
        too_long = (word_counts > request.max_words).astype(float)
        prior = (
            _GLOBAL_WEIGHT * global_score
            + _POSITION_WEIGHT * position
            + _INFORMATION_WEIGHT * information(sentences, vectors)
            - _TOO_LONG_PENALTY * too_long
        )
        topics: dict[str, tuple[list[int], np.ndarray]] = {}
        for topic_id, ids in request.topics:
            rows = [row[i] for i in ids if i in row]
            if exclude_headline and request.title_id is None:
                # The headline already says it: a topic repeats it only when it has nothing else.
                rows = [r for r in rows if r != headline_row] or rows
            if not rows:
                continue
            rows = top_rows(rows, prior, self._max_candidates)
            local = lexrank(vectors.similarity(rows))
            score = _TOPIC_WEIGHT * local / max(local.max(), 1e-9) + prior[rows]
            topics[topic_id] = (rows, score)
        return Ranking(sentences, vectors, centrality, position, word_counts, headline_row, topics)


def information(sentences: Sequence[SourceSentence], vectors: SparseTfidf) -> np.ndarray:
    """0..1 per sentence: figures, names and distinct content words, saturating."""
    scores = np.zeros(len(sentences))
    for i, sentence in enumerate(sentences):
        text = sentence.text
        figures = len(_NUMBER.findall(text))
        names = len(_NAME.findall(text))
        content = vectors.distinct_terms(i)
        scores[i] = min(figures, 3) / 3 + min(names, 4) / 4 + min(content, 20) / 20
    return scores / 3


def top_rows(rows: list[int], prior: np.ndarray, limit: int) -> list[int]:
    """The ``limit`` rows with the highest prior, in document order."""
    if len(rows) <= limit:
        return rows
    ordered = np.asarray(rows)
    best = np.argpartition(-prior[ordered], limit - 1)[:limit]
    return sorted(ordered[best].tolist())


def pick(
    score: np.ndarray,
    similarity: np.ndarray,
    word_counts: np.ndarray,
    redundancy: float,
    limit: int,
) -> list[int]:
    """Indices best first, skipping near-repeats of a chosen one and fragments."""
    order = sorted(range(len(score)), key=lambda k: -score[k])
    substantial = [k for k in order if word_counts[k] >= MIN_WORDS]
    chosen: list[int] = []
    for k in substantial or order:
        if all(similarity[k, c] < redundancy for c in chosen):
            chosen.append(k)
        if len(chosen) == limit:
            break
    return chosen


def point(sentence: SourceSentence, max_words: int) -> Point:
    return Point(trim(sentence.text, max_words), (sentence.id,), sentence.language)


def points_at(
    sentences: Sequence[SourceSentence], rows: Sequence[int], chosen: Iterable[int], max_words: int
) -> list[Point]:
    """Points for the ``chosen`` positions in ``rows`` (rows of ``sentences``), in document
    order."""
    return [point(sentences[rows[k]], max_words) for k in sorted(chosen)]


def _headline_row(score: np.ndarray, word_counts: np.ndarray, max_words: int) -> int:
    # A headline says something: "So, we'll continue to engage." does not. One that fits is
    # preferred to one that would be cut with "…".
    candidates = np.flatnonzero((word_counts >= HEADLINE_MIN_WORDS) & (word_counts <= max_words))
    if len(candidates) == 0:
        candidates = np.flatnonzero(word_counts >= HEADLINE_MIN_WORDS)
    if len(candidates) == 0:
        candidates = np.flatnonzero(word_counts >= MIN_WORDS)
    if len(candidates) == 0:
        return int(np.argmax(score))
    return int(candidates[np.argmax(score[candidates])])


def lexrank(
    similarity: np.ndarray, iterations: int = 50, threshold: float = _EDGE_THRESHOLD
) -> np.ndarray:
    """Stationary distribution of the thresholded similarity graph (continuous LexRank)."""
    n = similarity.shape[0]
    if n <= 1:
        return np.ones(n)
    graph = np.where(similarity >= threshold, similarity, 0.0)
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


def implicit_lexrank(vectors: SparseTfidf, iterations: int = 50) -> np.ndarray:
    """Continuous LexRank with no edge threshold, in O(nonzeros) per iteration.

    The graph is S = X X^T minus its diagonal; S never exists: S q = X (X^T q) - diag(S) q.
    Equals :func:`lexrank` with ``threshold=0`` on the dense matrix (TF-IDF is non-negative).
    """
    n = vectors.n_rows
    if n <= 1:
        return np.ones(n)
    diagonal = vectors.self_similarity()

    def graph_times(q: np.ndarray) -> np.ndarray:
        return vectors.times(vectors.transposed_times(q)) - diagonal * q

    sums = graph_times(np.ones(n))
    # Numerical noise in the product can leave a tiny non-zero sum on an isolated sentence.
    connected = sums > 1e-12
    inverse = np.where(connected, 1.0 / np.where(connected, sums, 1.0), 0.0)
    scores = np.full(n, 1.0 / n)
    for _ in range(iterations):
        # Transition^T p: connected rows spread p by S's row, the isolated spread p evenly.
        spread = graph_times(scores * inverse) + scores[~connected].sum() / n
        updated = (1 - _DAMPING) / n + _DAMPING * spread
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
