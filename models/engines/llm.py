"""The LLM engine: a small instruction-tuned causal LM writes the whole topic digest as JSON.

A request becomes a chat (``prompts/llm/system.LANG.j2`` + ``prompts/llm/user.j2``: the
numbered sentences, the topics with ids and titles, the glossary names found in the
transcript), rendered with the tokenizer's own chat template. The answer is parsed and checked
(:mod:`models.engines.llm_output`); bullets citing sentences that do not exist, or written in
the wrong language, are dropped. An unusable answer gets one retry with the problem shown to
the model (``prompts/llm/retry.j2``); a second failure, a run past ``[llm] time_budget_s``, a
missing model or any error in generation hand the request to the fallback engine, with a notice
saying why. The engine learns the model's speeds and usual answer length as it runs, and hands
over at once a digest it could not finish in the time left.

The prompt is bounded: when the whole transcript's prompt would take more than ``[llm]
prompt_tokens``, it holds only the best-ranked sentences of each topic (the offline engine's
ranking, the same number from every topic, as many as fit), under their own ids, so the
citations check is unchanged; the route records ``llm-prompt:PROMPTED/ALL`` sentences. A
shorter prompt is read sooner and makes every answer token cheaper (each reads the prompt's
attention cache): on 2 CPU cores a seed-sized digest took 46.6 s bounded against 71.5 s whole
with the 1.5B model (docs/performance.md). The answer, most of a digest's time, is bounded
too: at most ``[llm] max_bullets`` bullets per topic.

A transcript whose prompt does not fit ``[llm] context_window`` (less room for the answer)
is cut into per-topic chunks, each prompted separately (topics kept whole where they fit),
and the chunk digests are merged: topics in request order, the headline from the chunk
holding the most important topic.

Route steps recorded in ``SummaryResult.route``: ``llm:LANG:MODEL``, ``llm-chunks:N``,
``llm-retry``, ``extract:LANG`` (topics the model left out, filled by the fallback engine),
``llm-fallback:ENGINE``.

The parts live beside this module: prompts (:mod:`models.engines.llm_prompts`), chunking
(:mod:`models.engines.llm_chunks`), merging chunk digests (:mod:`models.engines.llm_merge`),
and, as the transformers runtime, loading and dtype choice
(:mod:`models.runtimes.causal_lm`), generation (:mod:`models.runtimes.llm_generation`),
stopping criteria (:mod:`models.runtimes.llm_stopping`) and the speed model
(:mod:`models.runtimes.llm_speed`). The names other modules use are re-exported here.

torch and transformers are imported here: the registry imports this module only when the
``llm`` engine is asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from models.base import ModelUnavailableError, Summariser, SummaryRequest, SummaryResult
from models.engines.extractive import ExtractiveSummariser
from models.engines.llm_chunks import SAFETY_TOKENS, Chunk, ChunkPlanner, TopicOrder, candidates
from models.engines.llm_merge import ChunkDigest, merge_points, merged_headline
from models.engines.llm_output import CheckedDigest, OutputError, parse_digest
from models.engines.llm_prompts import GlossaryTerm, PromptBuilder, TopicTitles, glossary_terms
from models.runtimes.causal_lm import (
    LoadedLlm,
    ModelLoader,
    RunChoice,
    cached_causal_lm,
    clear_cache,
    cpu_has_bf16,
    load_causal_lm,
    resolve_dtype,
)
from models.runtimes.chat_tokens import count_tokens, render_chat
from models.runtimes.hf_loading import download_command, is_local_name, resolve_model
from models.runtimes.llm_generation import Generation, generate
from models.runtimes.llm_speed import OverBudgetError
from models.runtimes.llm_stopping import DeadlineCriteria, JsonEndCriteria, TextCallback
from settings.schema import LlmSettings, ModelsSettings, Settings

# The engine's public names, wherever they are defined (tests, the registry and benchmarks
# import them from here).
__all__ = [
    "Chunk",
    "DeadlineCriteria",
    "Generation",
    "GlossaryTerm",
    "JsonEndCriteria",
    "LlmSummariser",
    "LoadedLlm",
    "ModelLoader",
    "OverBudgetError",
    "PromptBuilder",
    "RunChoice",
    "TextCallback",
    "TopicTitles",
    "build_llm_summariser",
    "cached_causal_lm",
    "clear_cache",
    "count_tokens",
    "cpu_has_bf16",
    "glossary_terms",
    "load_causal_lm",
    "render_chat",
    "resolve_dtype",
]

log = logging.getLogger(__name__)

# Sentence ids of each topic of a request, best first.
Ranker = Callable[[SummaryRequest], TopicOrder]

# The previous answer shown with a retry is cut to this many characters.
_RETRY_ANSWER_CHARS = 4000
# Below this many prompt tokens no useful chunk fits.
_MIN_PROMPT_TOKENS = 96


class LlmSummariser:
    """Writes the digest with a chat LLM; falls back to ``fallback`` when that fails."""

    name = "llm"
    # summarise() streams the answer to on_text (models/engines/llm_progress.py).
    streams_answer = True

    def __init__(
        self,
        settings: LlmSettings,
        models: ModelsSettings,
        fallback: Summariser,
        prompts: PromptBuilder,
        *,
        model_name: str | None = None,
        model_loader: ModelLoader | None = None,
        ranker: Ranker | None = None,
    ) -> None:
        self.settings = settings
        # Without a ranker a bounded prompt keeps each topic's first sentences.
        self.ranker = ranker
        self.models = models
        self.model_name = model_name or settings.model
        self.fallback = fallback
        self.prompts = prompts
        self._loader: ModelLoader = model_loader or (
            lambda name: cached_causal_lm(name, models, RunChoice.of(settings))
        )

    # -- public ---------------------------------------------------------------------------
    def summarise(
        self, request: SummaryRequest, on_text: TextCallback | None = None
    ) -> SummaryResult:
        """The digest of ``request``; ``on_text`` receives the answer as it is generated."""
        budget = self.settings.time_budget_s
        try:
            loaded = self._loader(self.model_name)
            deadline = time.monotonic() + budget
            return self._summarise(loaded, request, deadline, on_text)
        except ModelUnavailableError as exc:
            log.warning("llm unavailable, using the %s engine: %s", self.fallback.name, exc)
            return self._fall_back(request, f"is not available ({exc})")
        except OverBudgetError as exc:
            log.warning("llm over its time budget, using the %s engine", self.fallback.name)
            return self._fall_back(request, f"ran past its time budget of {budget:g} s ({exc})")
        except OutputError as exc:
            log.warning("llm answer unusable, using the %s engine: %s", self.fallback.name, exc)
            return self._fall_back(request, f"did not write a valid digest ({exc})")
        except Exception as exc:  # the bot must get a digest whatever the model does
            log.exception("llm generation failed, using the %s engine", self.fallback.name)
            return self._fall_back(request, f"failed ({type(exc).__name__}: {exc})")

    def window(self, loaded: LoadedLlm) -> int:
        """Tokens the prompt and the answer may take together."""
        configured = self.settings.context_window
        return min(configured, loaded.max_positions) if configured else loaded.max_positions

    def prompt_budget(self, loaded: LoadedLlm) -> int:
        return self.window(loaded) - self.settings.max_new_tokens - SAFETY_TOKENS

    def prompt_tokens(self, loaded: LoadedLlm, messages: Sequence[Mapping[str, str]]) -> int:
        return count_tokens(loaded.tokenizer, render_chat(loaded.tokenizer, messages))

    def bounded(self, loaded: LoadedLlm, request: SummaryRequest) -> SummaryRequest:
        """``request`` as the model is asked it: at most ``[llm] max_bullets`` bullets per
        topic, and, where the whole transcript's prompt is over ``[llm] prompt_tokens``, only
        each topic's best candidate sentences (:func:`models.engines.llm_chunks.candidates`)."""
        request = replace(request, max_points=min(request.max_points, self.settings.max_bullets))
        limit = min(self.settings.prompt_tokens, self.prompt_budget(loaded))
        if self.settings.prompt_tokens <= 0 or limit < _MIN_PROMPT_TOKENS:
            return request
        planner = ChunkPlanner(self.prompts, loaded.tokenizer, limit)
        whole = Chunk(tuple(request.sentences), tuple((t, tuple(i)) for t, i in request.topics))
        if planner.fits(request, whole):
            return request
        order = self.ranker(request) if self.ranker else {}
        chosen = candidates(request, order, lambda chunk: planner.fits(request, chunk))
        return replace(request, sentences=chosen.sentences, topics=chosen.topics)

    def plan(self, loaded: LoadedLlm, request: SummaryRequest) -> list[Chunk]:
        """The request as chunks whose prompts fit the window: one when the whole fits."""
        budget = self.prompt_budget(loaded)
        if budget < _MIN_PROMPT_TOKENS:
            raise ModelUnavailableError(
                f"the context window ({self.window(loaded)} tokens) leaves no room for a prompt "
                f"beside max_new_tokens = {self.settings.max_new_tokens}"
            )
        return ChunkPlanner(self.prompts, loaded.tokenizer, budget).plan(request)

    # -- internals ------------------------------------------------------------------------
    def _summarise(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        deadline: float,
        on_text: TextCallback | None,
    ) -> SummaryResult:
        asked = self.bounded(loaded, request)
        # Merging and filling use the whole request, with the bullets the model was asked for.
        request = replace(request, max_points=asked.max_points)
        chunks = self.plan(loaded, asked)
        route = [f"llm:{request.language}:{self.model_name}"]
        if len(asked.sentences) < len(request.sentences):
            route.append(f"llm-prompt:{len(asked.sentences)}/{len(request.sentences)}")
        if len(chunks) > 1:
            route.append(f"llm-chunks:{len(chunks)}")
        digests: list[ChunkDigest] = []
        failures: list[str] = []
        for part, chunk in enumerate(chunks, start=1):
            try:
                checked, retried = self._digest_chunk(
                    loaded, asked, chunk, part, len(chunks), deadline, on_text
                )
            except OutputError as exc:
                if len(chunks) == 1:
                    raise
                failures.append(f"part {part}: {exc}")
                log.warning("llm chunk %d/%d unusable: %s", part, len(chunks), exc)
                continue
            if retried:
                route.append("llm-retry")
            digests.append((chunk, checked))
        if not digests:
            raise OutputError(failures)
        return self._result(request, digests, failures, route)

    def _digest_chunk(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        chunk: Chunk,
        part: int,
        parts: int,
        deadline: float,
        on_text: TextCallback | None,
    ) -> tuple[CheckedDigest, bool]:
        """One chunk's checked digest, retrying with the error shown (``[llm] retries``)."""
        messages = self.prompts.messages(request, chunk, part, parts)
        checks = {
            "language": request.language,
            "sentence_ids": {s.id for s in chunk.sentences},
            "known_topics": {
                **self.prompts.known_topics(request.language),
                **{tid: self.prompts.title(tid, request.language) or "" for tid, _ in chunk.topics},
            },
            "max_points": request.max_points,
        }
        attempt = 0
        while True:
            generation = self._generate(
                loaded, messages, deadline, on_text, topics=len(chunk.topics)
            )
            try:
                checked = parse_digest(generation.text, **checks)
            except OutputError as exc:
                if attempt >= self.settings.retries:
                    raise
                attempt += 1
                log.info("llm answer unusable, retrying: %s", exc)
                messages = self._retry_messages(loaded, request, messages, generation.text, exc)
                continue
            if checked.dropped:
                log.info("llm bullets dropped: %s", "; ".join(checked.dropped))
            return checked, attempt > 0

    def _retry_messages(
        self,
        loaded: LoadedLlm,
        request: SummaryRequest,
        messages: list[dict[str, str]],
        answer: str,
        error: OutputError,
    ) -> list[dict[str, str]]:
        """The conversation so far, the bad answer, and the problem (the answer is left out
        when it would not fit the window)."""
        base = messages[:2]
        retry = {"role": "user", "content": self.prompts.retry(request.language, str(error))}
        shown = answer.strip()[:_RETRY_ANSWER_CHARS] or "…"
        full = [*base, {"role": "assistant", "content": shown}, retry]
        if self.prompt_tokens(loaded, full) <= self.prompt_budget(loaded):
            return full
        # No room for the answer: fold the problem into the user turn instead.
        folded = {"role": "user", "content": base[1]["content"] + "\n\n" + retry["content"]}
        return [base[0], folded]

    def _generate(
        self,
        loaded: LoadedLlm,
        messages: Sequence[Mapping[str, str]],
        deadline: float,
        on_text: TextCallback | None,
        topics: int = 0,
    ) -> Generation:
        """One answer, greedy at temperature 0; raises :class:`OverBudgetError` past the
        deadline (or before starting, when it cannot finish in time)."""
        return generate(loaded, messages, self.settings, deadline, on_text, topics)

    def _result(
        self,
        request: SummaryRequest,
        digests: Sequence[ChunkDigest],
        failures: Sequence[str],
        route: list[str],
    ) -> SummaryResult:
        """Chunk digests merged into one result; new topics re-homed, gaps filled."""
        points = merge_points(request, digests)
        missing = [tid for tid, _ in request.topics if not points.get(tid)]
        if missing:
            extracted = self.fallback.summarise(request)
            filled = [tid for tid in missing if extracted.points.get(tid)]
            for tid in filled:
                points[tid] = extracted.points[tid]
            if filled:
                route.append(f"extract:{request.language}")
        notices: list[str] = []
        if failures:
            notices.append(
                f"The LLM's answer for part of the transcript was not usable ({failures[0]}); "
                f"those topics are extracts from the {self.fallback.name} engine."
            )
        return SummaryResult(
            headline=merged_headline(request, digests, points),
            points=points,
            language=request.language,
            engine=self.name,
            notices=notices,
            route=route,
        )

    def _fall_back(self, request: SummaryRequest, reason: str) -> SummaryResult:
        result = self.fallback.summarise(request)
        notice = (
            f"The LLM engine ({self.model_name}) {reason}; "
            f"the {self.fallback.name} engine wrote this digest."
        )
        return replace(
            result,
            notices=[*result.notices, notice],
            route=[f"llm-fallback:{self.fallback.name}", *result.route],
        )


def build_llm_summariser(
    settings: Settings,
    fallback: Summariser,
    *,
    model_loader: ModelLoader | None = None,
    topics: TopicTitles | None = None,
    glossary: Sequence[GlossaryTerm] = (),
    light: bool = False,
) -> LlmSummariser:
    """The ``llm`` engine for ``settings``; ``fallback`` serves requests it cannot.

    ``topics``: the taxonomy's titles by topic id (one string or one per language);
    ``glossary``: terms as :func:`glossary_terms` makes them from the prompts' glossary (or
    plain lines). ``light`` uses ``[llm] light_model`` instead of ``[llm] model``.

    Raises :class:`ModelUnavailableError` (naming the model and the command that downloads
    it) when the model is not present, so the registry can fall back at once. The model is
    loaded on the first request (``model_loader(name)``; by default from the local directory
    or cache, once per process).
    """
    llm = settings.llm
    name = llm.light_model if light else llm.model
    if model_loader is None:
        try:
            resolve_model(name, settings.models.cache_dir)
        except ModelUnavailableError as exc:
            message = str(exc)
            if download_command(name) not in message and not is_local_name(name):
                message += f"; fetch it with: {download_command(name)}"
            raise ModelUnavailableError(f"LLM {name}: {message}", exc.remedy) from exc
    prompts = PromptBuilder(Path(settings.paths.prompts_dir) / "llm", topics, glossary)
    ranker = extractive_order(fallback) if isinstance(fallback, ExtractiveSummariser) else None
    return LlmSummariser(
        llm,
        settings.models,
        fallback,
        prompts,
        model_name=name,
        model_loader=model_loader,
        ranker=ranker,
    )


def extractive_order(extractive: ExtractiveSummariser) -> Ranker:
    """Each topic's sentence ids, best first by the offline engine's score (the candidates
    it would pick its bullets from)."""

    def order(request: SummaryRequest) -> TopicOrder:
        ranking = extractive.rank(request, exclude_headline=False)
        ids = [s.id for s in ranking.sentences]
        return {
            tid: [ids[rows[k]] for k in sorted(range(len(rows)), key=lambda k: -score[k])]
            for tid, (rows, score) in ranking.topics.items()
        }

    return order
