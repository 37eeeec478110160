import numpy as np
import pytest

from digest.model import Document
from digest.pipeline import Pipeline
from models.base import SourceSentence, SummaryRequest
from models.engines.extractive import ExtractiveSummariser, implicit_lexrank, lexrank, tfidf, trim


def test_every_bullet_cites_real_sentences_and_respects_limits(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    analysis = pipeline.analyse(moscow_briefing)
    texts = {s.id: s.text for s in analysis.transcript.sentences}
    group_ids = {g.id: set(g.sentence_ids) for g in analysis.groups}
    for topic_id, points in analysis.summary.points.items():
        assert 1 <= len(points) <= pipeline.settings.summary.max_bullets
        for point in points:
            assert point.source_ids and set(point.source_ids) <= group_ids[topic_id]
            source = texts[point.source_ids[0]]
            assert point.text.rstrip("…") in source or source.startswith(point.text.rstrip("…"))
    assert analysis.summary.headline.text
    assert "Jaishankar" in analysis.summary.headline.text


def test_redundant_sentences_are_not_repeated() -> None:
    sentences = [
        SourceSentence(
            0, "India and Russia agreed to expand bilateral trade in a balanced way.", "en"
        ),
        SourceSentence(
            1, "India and Russia agreed to expand bilateral trade in a balanced way again.", "en"
        ),
        SourceSentence(
            2, "The ministers also discussed pharmaceutical exports and textile exports.", "en"
        ),
    ]
    summariser = ExtractiveSummariser(
        {"en": frozenset({"the", "and", "in", "a", "to"})}, redundancy=0.5
    )
    result = summariser.summarise(
        SummaryRequest("en", sentences, [("trade", [0, 1, 2])], max_points=3)
    )
    chosen = [p.source_ids[0] for p in result.points["trade"]]
    assert not {0, 1} <= set(chosen)
    assert 2 in chosen


@pytest.mark.parametrize("n", [1, 2, 7])
def test_lexrank_is_a_distribution(n: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((n, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    scores = lexrank(x @ x.T)
    assert scores.shape == (n,)
    assert np.all(scores > 0)
    assert scores.sum() == pytest.approx(1.0)


def test_lexrank_ranks_the_sentence_the_others_echo_first() -> None:
    # A star: sentence 0 resembles every other, the others resemble nothing else.
    n = 6
    similarity = np.eye(n)
    similarity[0, 1:] = similarity[1:, 0] = 0.8
    scores = lexrank(similarity)
    assert int(np.argmax(scores)) == 0
    assert scores[0] > 2 * scores[1]
    assert scores[1:] == pytest.approx(np.full(n - 1, scores[1]))  # the leaves are alike


def test_lexrank_of_a_symmetric_graph_is_uniform() -> None:
    n = 5
    similarity = np.full((n, n), 0.5)
    np.fill_diagonal(similarity, 1.0)
    assert lexrank(similarity) == pytest.approx(np.full(n, 1 / n))


def test_trim_cuts_at_a_clause_boundary() -> None:
    text = "Both sides agreed on many things, including trade, energy, transport and a great deal more besides"
    cut = trim(text, 10)
    assert cut.endswith("…") and len(cut.split()) <= 10
    assert trim("Short one.", 10) == "Short one."


def _sentences(texts: list[str]) -> list[SourceSentence]:
    return [SourceSentence(i, t, "en") for i, t in enumerate(texts)]


def test_matrix_free_lexrank_equals_lexrank_on_the_dense_matrix(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    analysis = pipeline.analyse(moscow_briefing)
    sentences = [SourceSentence(s.id, s.text, s.language) for s in analysis.transcript.sentences]
    # A sentence of stop words only has no edges: the uniform jump must match too.
    sentences.append(SourceSentence(len(sentences), "and the of", "en"))
    vectors = tfidf(sentences, pipeline.resources.stopwords)
    dense = lexrank(vectors.similarity(range(len(sentences))), iterations=300, threshold=0.0)
    implicit = implicit_lexrank(vectors, iterations=300)
    assert np.allclose(dense, implicit, atol=1e-9)
    assert implicit.sum() == pytest.approx(1.0)


def test_the_candidate_cap_bounds_a_topic_and_keeps_its_best_sentences() -> None:
    filler = [
        f"Routine remark number {i} about the weather and the season today." for i in range(300)
    ]
    key = [
        "India and Russia agreed to raise bilateral trade to one hundred billion dollars.",
        "Bilateral trade between India and Russia grew fast, and India wants more exports.",
    ]
    sentences = _sentences(key + filler)
    stopwords = {"en": frozenset({"the", "and", "to", "a", "of", "about"})}
    request = SummaryRequest("en", sentences, [("trade", [s.id for s in sentences])], max_points=2)
    capped = ExtractiveSummariser(stopwords, max_candidates=16)
    ranking = capped.rank(request)
    rows, score = ranking.topics["trade"]
    assert len(rows) == 16 and len(score) == 16
    assert rows == sorted(rows)
    # The early, central trade statements survive the cap and one of them is a bullet.
    chosen = {p.source_ids[0] for p in capped.summarise(request).points["trade"]}
    assert chosen & {0, 1}


def test_small_topics_are_ranked_in_full() -> None:
    sentences = _sentences(
        [f"Statement {i} on energy supplies and oil prices rising." for i in range(10)]
    )
    ranking = ExtractiveSummariser({}, max_candidates=16).rank(
        SummaryRequest("en", sentences, [("energy", list(range(10)))])
    )
    assert len(ranking.topics["energy"][0]) == 9  # all but the headline


def test_a_sentence_that_fits_a_bullet_is_preferred_to_one_that_would_be_cut() -> None:
    long = (
        "The ministers agreed on trade in rupees and roubles, and they also agreed, after a "
        "long discussion that went on late into the night and covered many other matters of "
        "interest to both sides, including shipping, insurance and the payment of freight, that "
        "officials would meet again in the spring to review trade."
    )
    sentences = [
        SourceSentence(0, "Several ministers met in Delhi on a warm day in the spring.", "en"),
        SourceSentence(1, long, "en"),
        SourceSentence(2, "The ministers agreed that trade in rupees and roubles will grow.", "en"),
    ]
    summariser = ExtractiveSummariser({"en": frozenset({"the", "and", "in", "a", "to"})})
    result = summariser.summarise(
        # A title: the engine's own headline does not take a sentence out of the topic.
        SummaryRequest(
            "en", sentences, [("trade", [1, 2])], max_points=1, max_words=30, title_id=0
        )
    )
    [point] = result.points["trade"]
    assert point.source_ids == (2,) and not point.text.endswith("…")


def test_a_headline_that_fits_is_preferred_to_one_that_would_be_cut() -> None:
    long = (
        "The ministers agreed on trade in rupees and roubles, and they also agreed, after a "
        "long discussion that went on late into the night and covered many other matters of "
        "interest to both sides, that officials would meet again in the spring to review trade."
    )
    sentences = [
        SourceSentence(0, long, "en"),
        SourceSentence(1, "The ministers agreed that trade in rupees and roubles will grow.", "en"),
        SourceSentence(2, "Officials will meet again in the spring to review the trade.", "en"),
    ]
    summariser = ExtractiveSummariser({"en": frozenset({"the", "and", "in", "a", "to"})})
    request = SummaryRequest("en", sentences, [("trade", [0, 1, 2])], headline_max_words=20)
    result = summariser.summarise(request)
    assert result.headline.source_ids != (0,) and not result.headline.text.endswith("…")
    # With room for it, the most central sentence is the headline again.
    wide = summariser.summarise(
        SummaryRequest("en", sentences, [("trade", [0, 1, 2])], headline_max_words=60)
    )
    assert wide.headline.source_ids == (0,)
