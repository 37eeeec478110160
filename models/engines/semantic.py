"""The semantic engine: centrality, redundancy and headline on multilingual sentence embeddings.

Embeddings cost ~30-80 ms per sentence on 2 cores, so only what can change the result is
embedded: the offline engine's TF-IDF ranking (linear, bounded) picks each topic's best
``candidates`` sentences, and the early sentences a headline may come from. Those are embedded
in one batched, cached call; then

- centrality: LexRank over embedding similarities, within the topic and across all candidates;
- selection: MMR (maximal marginal relevance) against the bullets already chosen, and a hard
  cut for near-repeats (a paraphrase, or the same statement in another language);
- headline: the most central informative statement among the first sentences.

Also here, for topic assignment: :class:`SemanticTopicScorer` (similarity to topic prototypes
written in en/hi/ru, ``prompts/topic_prototypes.toml``) and :meth:`~SemanticTopicScorer.cluster`
for emergent topics.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.base import Point, SummaryRequest, SummaryResult
from models.engines.extractive import (
    MIN_WORDS,
    ExtractiveSummariser,
    Ranking,
    lexrank,
    point,
    points_at,
    top_rows,
)
from models.runtimes.embeddings import Embedder, EmbeddingKind

log = logging.getLogger(__name__)

# e5 scores even unrelated statements of one register at ~0.76-0.81 cosine: similarities are
# rescaled so that this baseline is 0 before they weigh graph edges or redundancy.
_BASELINE = 0.78
_EDGE_THRESHOLD = 0.1
_TOPIC_WEIGHT, _GLOBAL_WEIGHT, _POSITION_WEIGHT = 0.6, 0.25, 0.15
# MMR: relevance vs. novelty against the chosen bullets.
_MMR_LAMBDA = 0.7
_SPARE_CANDIDATES = 3
# The headline is looked for among the first sentences with at least MIN_WORDS words.
HEADLINE_WINDOW = 8
# e5 is symmetric for sentence-to-sentence similarity when both sides use the "query" prefix
# (the model card's advice for similarity, clustering and classification).
_KIND = EmbeddingKind.QUERY


def rescaled(similarity: np.ndarray) -> np.ndarray:
    """Cosine mapped so that unrelated statements score 0 and identical ones 1."""
    return np.clip((similarity - _BASELINE) / (1.0 - _BASELINE), 0.0, 1.0)


class SemanticSummariser:
    name = "semantic"

    def __init__(
        self,
        ranker: ExtractiveSummariser,
        embedder: Embedder,
        candidates: int = 12,
        redundancy: float = 0.92,
    ) -> None:
        self._ranker = ranker
        self._embedder = embedder
        self._candidates = candidates
        self._redundancy = redundancy

    def summarise(self, request: SummaryRequest) -> SummaryResult:
        ranking = self._ranker.rank(request, exclude_headline=False)
        cap = candidate_cap(self._candidates, request.max_points)
        sentences = ranking.sentences
        topic_rows = {
            topic: top_rows(rows, _full(rows, score, ranking), cap)
            for topic, (rows, score) in ranking.topics.items()
        }
        # A topic with no more sentences than bullets keeps them all, bar repeats: TF-IDF tells
        # those apart well enough, and its sentences need no embedding.
        small = {topic for topic, rows in topic_rows.items() if len(rows) <= request.max_points}
        early = self._headline_candidates(ranking) if request.title_id is None else []
        needed = sorted(
            {r for topic, rows in topic_rows.items() if topic not in small for r in rows}
            | set(early)
        )
        vectors = (
            self._embedder.embed([sentences[r].text for r in needed], _KIND)
            if needed
            else np.zeros((0, 1), dtype=np.float32)
        )
        index = {r: k for k, r in enumerate(needed)}
        similarity = vectors @ vectors.T
        central = lexrank(rescaled(similarity), threshold=_EDGE_THRESHOLD)
        central = central / max(central.max(initial=0.0), 1e-9)

        if early:
            headline_row = self._headline(early, index, vectors, ranking)
        else:
            headline_row = ranking.headline_row  # the pipeline shows the document's title
        points: dict[str, list[Point]] = {}
        for topic, rows in topic_rows.items():
            if request.title_id is None:
                # The headline already says it: a topic repeats it only when it has nothing else.
                rows = [r for r in rows if r != headline_row] or rows
            if topic in small:
                points[topic] = self._keep_all(topic, rows, ranking, request)
                continue
            local_index = [index[r] for r in rows]
            local_similarity = similarity[np.ix_(local_index, local_index)]
            local = lexrank(rescaled(local_similarity), threshold=_EDGE_THRESHOLD)
            score = (
                _TOPIC_WEIGHT * local / max(local.max(), 1e-9)
                + _GLOBAL_WEIGHT * central[local_index]
                + _POSITION_WEIGHT * ranking.position[rows]
            )
            chosen = mmr(
                score,
                local_similarity,
                ranking.word_counts[rows],
                self._redundancy,
                request.max_points,
            )
            points[topic] = points_at(sentences, rows, chosen, request.max_words)
        log.debug("semantic summary", extra={"embedded": len(needed), "sentences": len(sentences)})
        return SummaryResult(
            headline=point(sentences[headline_row], request.headline_max_words),
            points=points,
            language=request.language,
            engine=self.name,
            route=[f"semantic:{request.language}"],
        )

    def _keep_all(
        self, topic: str, rows: list[int], ranking: Ranking, request: SummaryRequest
    ) -> list[Point]:
        score = dict(zip(*ranking.topics[topic], strict=True))
        chosen = self._ranker.pick_rows(
            rows, np.array([score.get(r, 0.0) for r in rows]), ranking, request.max_points
        )
        return points_at(ranking.sentences, rows, chosen, request.max_words)

    @staticmethod
    def _headline_candidates(ranking: Ranking) -> list[int]:
        informative = [
            r
            for r in np.flatnonzero(ranking.word_counts >= MIN_WORDS)[: 2 * HEADLINE_WINDOW]
            if not ranking.sentences[r].text.rstrip().endswith(("?", "？"))
        ]
        return [int(r) for r in informative[:HEADLINE_WINDOW]] or [ranking.headline_row]

    @staticmethod
    def _headline(
        early: list[int], index: Mapping[int, int], vectors: np.ndarray, ranking: Ranking
    ) -> int:
        """Most central early statement: closest to the mean meaning of everything embedded."""
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        closeness = rescaled(vectors[[index[r] for r in early]] @ centroid)
        score = closeness / max(closeness.max(), 1e-9) + ranking.position[early]
        return early[int(np.argmax(score))]


def candidate_cap(candidates: int, max_points: int) -> int:
    """Sentences embedded per topic: always a few beyond the bullets wanted, or there is
    nothing to choose from."""
    return max(candidates, max_points + _SPARE_CANDIDATES)


def _full(rows: list[int], score: np.ndarray, ranking: Ranking) -> np.ndarray:
    """A topic's TF-IDF scores as an array over all rows, for :func:`top_rows`."""
    full = np.zeros(len(ranking.sentences))
    full[rows] = score
    return full


def mmr(
    score: np.ndarray,
    similarity: np.ndarray,
    word_counts: np.ndarray,
    redundancy: float,
    limit: int,
) -> list[int]:
    """Maximal marginal relevance: each next pick trades relevance against likeness to those
    chosen; near-repeats (cosine >= ``redundancy``) and fragments are never picked."""
    relevance = score / max(float(score.max(initial=0.0)), 1e-9)
    novelty_cost = rescaled(similarity)
    pool = [k for k in range(len(score)) if word_counts[k] >= MIN_WORDS] or list(range(len(score)))
    chosen: list[int] = []
    while pool and len(chosen) < limit:
        penalty = novelty_cost[np.ix_(pool, chosen)].max(axis=1) if chosen else np.zeros(len(pool))
        value = _MMR_LAMBDA * relevance[pool] - (1 - _MMR_LAMBDA) * penalty
        best = pool[int(np.argmax(value))]
        chosen.append(best)
        pool = [k for k in pool if k != best and similarity[k, best] < redundancy]
    return chosen


@dataclass(frozen=True, slots=True)
class Cluster:
    """Indices into the texts given to :meth:`SemanticTopicScorer.cluster`."""

    members: tuple[int, ...]
    # The member closest to the cluster's mean: the one to name it by.
    central: int


class PrototypeError(ValueError):
    """prompts/topic_prototypes.toml is missing, malformed or incomplete."""


def load_prototypes(
    path: Path, languages: Sequence[str] = ("en", "hi", "ru")
) -> dict[str, list[str]]:
    """Topic id -> its prototype statements in all languages (each language required)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PrototypeError(f"{path}: cannot read topic prototypes: {exc}") from exc
    prototypes: dict[str, list[str]] = {}
    for topic, table in data.items():
        if not isinstance(table, dict):
            raise PrototypeError(f"{path}: [{topic}] must be a table of en/hi/ru lists")
        statements: list[str] = []
        for lang in languages:
            items = table.get(lang)
            if not items or not all(isinstance(s, str) and s.strip() for s in items):
                raise PrototypeError(f"{path}: [{topic}] {lang} needs a list of statements")
            statements.extend(items)
        prototypes[topic] = statements
    if not prototypes:
        raise PrototypeError(f"{path}: no topics")
    return prototypes


class SemanticTopicScorer:
    """Similarity of sentences to the taxonomy's topics, for digest/topics.py to combine with
    its keyword evidence; and clusters of left-over sentences for emergent topics."""

    def __init__(self, embedder: Embedder, prototypes: Mapping[str, Sequence[str]]) -> None:
        self._embedder = embedder
        self.topic_ids: tuple[str, ...] = tuple(prototypes)
        self._statements = [s for t in self.topic_ids for s in prototypes[t]]
        # Column ranges of each topic's statements, in topic_ids order (for reduceat).
        sizes = [len(prototypes[t]) for t in self.topic_ids]
        self._starts = np.cumsum([0, *sizes[:-1]])
        self._prototype_vectors: np.ndarray | None = None

    @classmethod
    def from_file(cls, embedder: Embedder, path: Path) -> SemanticTopicScorer:
        return cls(embedder, load_prototypes(path))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(topic_ids)) float32: each text's best cosine to a topic's
        prototypes (~0.78 means unrelated, above ~0.85 on topic)."""
        if not texts:
            return np.zeros((0, len(self.topic_ids)), dtype=np.float32)
        similarity = self._embedder.embed(texts, _KIND) @ self._prototypes().T
        return np.maximum.reduceat(similarity, self._starts, axis=1).astype(np.float32)

    def cluster(
        self,
        texts: Sequence[str],
        max_clusters: int,
        min_size: int = 2,
        threshold: float = 0.84,
        max_texts: int = 400,
    ) -> list[Cluster]:
        """Average-linkage clusters of ``texts`` whose members are on average at least
        ``threshold`` alike; the largest ``max_clusters`` with ``min_size`` members or more,
        largest first. Only the first ``max_texts`` texts are clustered (bounded work)."""
        texts = list(texts)[:max_texts]
        if len(texts) < min_size or max_clusters <= 0:
            return []
        vectors = self._embedder.embed(texts, _KIND)
        groups = _average_linkage(vectors @ vectors.T, threshold)
        clusters = []
        for members in sorted(groups, key=lambda g: (-len(g), g[0])):
            if len(members) < min_size or len(clusters) == max_clusters:
                continue
            mean = vectors[members].mean(axis=0)
            central = members[int(np.argmax(vectors[members] @ mean))]
            clusters.append(Cluster(tuple(members), central))
        return clusters

    def _prototypes(self) -> np.ndarray:
        if self._prototype_vectors is None:
            self._prototype_vectors = self._embedder.embed(self._statements, _KIND)
        return self._prototype_vectors


def _average_linkage(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Merge the two most alike groups while their mean pairwise similarity >= threshold."""
    n = similarity.shape[0]
    groups: list[list[int] | None] = [[i] for i in range(n)]
    linkage = similarity.astype(np.float64).copy()
    np.fill_diagonal(linkage, -np.inf)
    sizes = np.ones(n)
    for _ in range(n - 1):
        a, b = np.unravel_index(int(np.argmax(linkage)), linkage.shape)
        if linkage[a, b] < threshold:
            break
        # Lance-Williams update for average linkage; b is retired into a.
        merged = (sizes[a] * linkage[a] + sizes[b] * linkage[b]) / (sizes[a] + sizes[b])
        linkage[a], linkage[:, a] = merged, merged
        linkage[a, a] = -np.inf
        linkage[b], linkage[:, b] = -np.inf, -np.inf
        sizes[a] += sizes[b]
        groups[a] = [*groups[a], *groups[b]]  # type: ignore[misc]
        groups[b] = None
    return [sorted(g) for g in groups if g is not None]
