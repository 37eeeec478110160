import numpy as np
import pytest

from digest.model import Document
from digest.pipeline import Pipeline
from models.base import SourceSentence, SummaryRequest
from models.engines.extractive import ExtractiveSummariser, lexrank, trim


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
