"""Abstractive, topic-aware bullets from a seq2seq summariser, with evidence ids.

Route, by ``[summarisation] kind``:

- ``multilingual`` (mT5 XLSum): each topic is summarised in its own language; the pipeline
  then translates only the short digest into other output languages.
- ``english`` (distilbart, bart-large-cnn): topic sentences not in English are translated
  to English first (only the sentences of the digest's topics), then summarised; the digest
  is in English and the pipeline translates it on where asked.

The steps taken are recorded in ``SummaryResult.route`` (``translate:hi->en:opus-mt``,
``summarise:en:sshleifer/distilbart-cnn-12-6``; a step run by a CTranslate2 conversion ends in
the backend, ``summarise:en:sshleifer/distilbart-cnn-12-6:ctranslate2-int8``). Topics longer
than one window are summarised with map-reduce (:func:`models.runtimes.seq2seq.map_reduce`). Each
bullet cites the topic sentences it shares most words with (all of the topic's sentences when
it shares none).

When a model the route needs is missing, the request is served by the offline engine with a
notice, rather than failing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from models.base import (
    Fallback,
    ModelUnavailableError,
    Point,
    Remedy,
    Summariser,
    SummaryRequest,
    SummaryResult,
    Translator,
)
from models.engines.extractive import trim
from models.runtimes.ct2_backend import make_runner
from models.runtimes.hf_loading import ModelCache, generation_for
from models.runtimes.seq2seq import Seq2SeqRunner, map_reduce, split_sentences
from models.text import words
from settings.schema import Settings

log = logging.getLogger(__name__)

# Words shorter than this do not count as shared evidence ("the", "и", "का").
_MIN_EVIDENCE_WORD = 3
_MAX_EVIDENCE = 3
_DUPLICATE_JACCARD = 0.8

TranslatorProvider = Callable[[], Translator]


@dataclass(frozen=True, slots=True)
class Plan:
    # Languages whose sentences are translated to English first (english kind only).
    translate_to_english: tuple[str, ...]
    # Language the summariser reads and writes.
    summary_language: str
    steps: tuple[str, ...]


class NeuralSummariser:
    name = "neural"

    def __init__(
        self,
        settings: Settings,
        cache: ModelCache,
        translator: TranslatorProvider,
        fallback: Summariser,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.model = settings.summarisation.model
        self.kind = settings.summarisation.kind
        self._translator = translator
        self._fallback = fallback
        # Fail now (the registry then falls back) rather than in the middle of a digest.
        cache.resolve(self.model)

    # -- planning -------------------------------------------------------------------------
    def plan(self, request: SummaryRequest) -> Plan:
        languages = _topic_languages(request)
        if self.kind == "multilingual":
            return Plan((), request.language, (self._step(request.language),))
        foreign = tuple(lang for lang in languages if lang != "en")
        name = "?"
        if foreign:
            try:
                name = self._translator().name
            except ModelUnavailableError:
                name = "unavailable"
        steps = tuple(f"translate:{lang}->en:{name}" for lang in foreign)
        return Plan(foreign, "en", (*steps, self._step("en")))

    def _step(self, language: str) -> str:
        """``summarise:en:MODEL``, with ``:ctranslate2-int8`` when a converted model runs."""
        try:
            backend = self.cache.backend(self.model)
        except ModelUnavailableError:
            backend = "transformers"
        suffix = "" if backend == "transformers" else f":{backend}"
        return f"summarise:{language}:{self.model}{suffix}"

    # -- summarising ----------------------------------------------------------------------
    def summarise(self, request: SummaryRequest) -> SummaryResult:
        try:
            return self._summarise(request)
        except RuntimeError as exc:  # a missing model, or torch failing (out of memory...)
            if isinstance(exc, ModelUnavailableError):
                log.warning("neural summary unavailable, using the offline engine: %s", exc)
            else:
                log.exception("neural summary failed, using the offline engine")
            result = self._fallback.summarise(request)
            remedy = (
                exc.fix()
                if isinstance(exc, ModelUnavailableError)
                else Remedy(f"a working model ({exc})", "briefing-digest models verify")
            )
            # The pipeline words the notice in each digest's language.
            return replace(result, fallback=Fallback(self.name, remedy))

    def runner(self) -> Seq2SeqRunner:
        loaded = self.cache.get(self.model)
        generation = generation_for(
            self.model, self.settings.summarisation.generation, self.settings.models.generation
        )
        params = getattr(loaded.model.config, "task_specific_params", None) or {}
        prefix = (params.get("summarization") or {}).get("prefix", "") or ""
        return make_runner(loaded, generation, self.settings.summarisation.batch_size, prefix)

    def _summarise(self, request: SummaryRequest) -> SummaryResult:
        plan = self.plan(request)
        by_id = {s.id: s for s in request.sentences}
        topics = [(tid, [i for i in ids if i in by_id]) for tid, ids in request.topics]
        topics = [(tid, ids) for tid, ids in topics if ids]
        route: list[str] = []
        texts = {s.id: s.text for s in request.sentences}
        if plan.translate_to_english:
            texts.update(self._to_english(request, topics, plan.translate_to_english, route))
        runner = self.runner()
        step = f"summarise:{plan.summary_language}:{self.model}"
        if runner.loaded.backend != "transformers":
            step += f":{runner.loaded.backend}"  # the backend that actually ran
        route.append(step)

        reduced = map_reduce(runner, [[texts[i] for i in ids] for _, ids in topics])
        points: dict[str, list[Point]] = {}
        empty: list[str] = []
        for (topic_id, ids), summary in zip(topics, reduced, strict=True):
            language = None
            if self.kind == "multilingual":
                main = Counter(by_id[i].language for i in ids).most_common(1)[0][0]
                language = main if main != plan.summary_language else None
            bullets = self._bullets(summary.text, ids, texts, request, language)
            if bullets:
                points[topic_id] = bullets
            else:
                empty.append(topic_id)
        notices: list[str] = []
        if empty:
            # A model that writes nothing for a topic: its extracts keep the topic in the digest.
            extracted = self._fallback.summarise(request)
            for topic_id in empty:
                if extracted.points.get(topic_id):
                    points[topic_id] = extracted.points[topic_id]
            route.append(f"extract:{request.language}")
        title = by_id.get(request.title_id) if request.title_id is not None else None
        if title is not None:
            # The document's own title is the headline (the pipeline uses it): nothing to write.
            headline = Point(
                trim(title.text, request.headline_max_words), (title.id,), title.language
            )
        else:
            headline = self._headline(runner, topics, points, texts, request)
        return SummaryResult(
            headline=headline,
            points=points,
            language=plan.summary_language,
            engine=self.name,
            notices=notices,
            route=route,
        )

    def _to_english(
        self,
        request: SummaryRequest,
        topics: Sequence[tuple[str, Sequence[int]]],
        languages: Sequence[str],
        route: list[str],
    ) -> dict[int, str]:
        """English text of the topics' sentences not in English."""
        try:
            translator = self._translator()
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"the English summariser {self.model} needs translation to English: {exc}",
                exc.remedy,
            ) from exc
        needed = {i for _, ids in topics for i in ids}
        english: dict[int, str] = {}
        for lang in languages:
            ids = [s.id for s in request.sentences if s.id in needed and s.language == lang]
            if not ids:
                continue
            if not translator.supports(lang, "en"):
                reason = getattr(translator, "missing_message", lambda s, t: "")(lang, "en")
                describe = getattr(translator, "missing_remedy", None)
                raise ModelUnavailableError(
                    f"the English summariser {self.model} needs {lang}->en translation"
                    + (f": {reason}" if reason else ""),
                    describe(lang, "en") if describe else None,
                )
            sources = {s.id: s.text for s in request.sentences}
            translated = translator.translate([sources[i] for i in ids], lang, "en")
            english.update(zip(ids, translated, strict=True))
            route.append(f"translate:{lang}->en:{translator.name}")
        return english

    def _bullets(
        self,
        summary: str,
        ids: Sequence[int],
        texts: dict[int, str],
        request: SummaryRequest,
        language: str | None,
    ) -> list[Point]:
        bullets: list[Point] = []
        seen: list[set[str]] = []
        for sentence in split_sentences(summary):
            tokens = set(words(sentence))
            if not tokens:
                continue
            if any(_jaccard(tokens, other) >= _DUPLICATE_JACCARD for other in seen):
                continue
            seen.append(tokens)
            evidence = attribute(sentence, ids, texts)
            bullets.append(Point(trim(sentence, request.max_words), evidence, language))
            if len(bullets) == request.max_points:
                break
        return bullets

    def _headline(
        self,
        runner: Seq2SeqRunner,
        topics: Sequence[tuple[str, Sequence[int]]],
        points: dict[str, list[Point]],
        texts: dict[int, str],
        request: SummaryRequest,
    ) -> Point:
        """The first sentence of a summary of all bullets (they fit a window or are reduced)."""
        bullets = [p for topic_id, _ in topics for p in points.get(topic_id, [])]
        all_ids = [i for _, ids in topics for i in ids]
        if not bullets:
            first = request.sentences[0]
            return Point(trim(first.text, request.headline_max_words), (first.id,), first.language)
        summary = map_reduce(runner, [[b.text for b in bullets]])[0].text
        sentences = [s for s in split_sentences(summary) if words(s)]
        if not sentences:
            return replace(bullets[0], text=trim(bullets[0].text, request.headline_max_words))
        text = sentences[0]
        language = (
            bullets[0].language if all(b.language == bullets[0].language for b in bullets) else None
        )
        return Point(
            trim(text, request.headline_max_words), attribute(text, all_ids, texts), language
        )


def attribute(text: str, ids: Sequence[int], texts: dict[int, str]) -> tuple[int, ...]:
    """Ids of the sentences ``text`` shares most content words with (all ``ids`` if none)."""
    tokens = {w for w in words(text) if len(w) >= _MIN_EVIDENCE_WORD}
    scores = {i: len(tokens & set(words(texts[i]))) for i in ids}
    best = max(scores.values(), default=0)
    if best == 0:
        return tuple(sorted(set(ids)))
    chosen = sorted(scores, key=lambda i: (-scores[i], i))[:_MAX_EVIDENCE]
    return tuple(sorted(i for i in chosen if scores[i] * 2 >= best))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def _topic_languages(request: SummaryRequest) -> list[str]:
    needed = {i for _, ids in request.topics for i in ids}
    languages = [s.language for s in request.sentences if s.id in needed]
    return list(dict.fromkeys(languages or [request.language]))
