"""Which runtime serves a request: the one place that knows the engines.

The offline engine is always there. Neural engines are imported only when asked for, so
the offline path never loads torch or transformers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.base import ModelUnavailableError, Summariser, Translator
from models.extractive import ExtractiveSummariser
from settings.schema import Settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EngineChoice:
    summariser: Summariser
    # Why the asked-for engine was not used (names the model and how to fetch it).
    fallback_reason: str | None = None


@dataclass
class EngineRegistry:
    settings: Settings
    stopwords: Mapping[str, frozenset[str]]
    glossary: object = None
    _extractive: ExtractiveSummariser | None = field(default=None, init=False)

    def extractive(self) -> ExtractiveSummariser:
        if self._extractive is None:
            self._extractive = ExtractiveSummariser(
                self.stopwords, self.settings.summary.redundancy_threshold
            )
        return self._extractive

    def summariser(self, engine: str | None = None) -> EngineChoice:
        engine = engine or self.settings.summary.engine
        if engine == "extractive":
            return EngineChoice(self.extractive())
        try:
            return EngineChoice(self._neural_summariser(engine))
        except ModelUnavailableError as exc:
            log.warning("engine unavailable, using the offline engine", extra={"engine": engine})
            # "auto" means "neural when present": falling back is expected, not news.
            return EngineChoice(self.extractive(), None if engine == "auto" else str(exc))

    def translator(self) -> Translator | None:
        if self.settings.translation.kind == "none":
            return None
        try:
            return self._neural_translator()
        except ModelUnavailableError as exc:
            log.info("no translator: %s", exc)
            return None

    def _neural_summariser(self, engine: str) -> Summariser:
        raise ModelUnavailableError(f"the {engine} engine is not available in this build")

    def _neural_translator(self) -> Translator:
        raise ModelUnavailableError("no translation models are available in this build")
