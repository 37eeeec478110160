"""Translation between en, hi and ru with Hugging Face seq2seq models.

Two interchangeable kinds (``[translation] kind``):

- ``per_direction``: one model per pair (opus-mt), pivoting through English where no direct
  model is configured or present (hi->ru runs hi->en, then en->ru);
- ``multilingual``: one NLLB-200 or M2M100 model for all six directions, with its language
  codes (NLLB ``eng_Latn``/``hin_Deva``/``rus_Cyrl``, M2M100 ``en``/``hi``/``ru``) as the
  tokenizer's source language and the target code forced as the first generated token.

Texts keep their structure: each line is translated separately, a bullet marker at its start
is kept, and its sentences are translated as units, batched by length across all texts.
A sentence longer than the model's window is split at word boundaries, never cut. Glossary
names are applied at every hop (:mod:`models.text.glossary`). Models converted for CTranslate2
run there (:mod:`models.runtimes.ct2_backend`) and the translator's name says so
(``opus-mt:ctranslate2-int8``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from models.base import ModelUnavailableError, Remedy
from models.runtimes.ct2_backend import convert_command, make_runner
from models.runtimes.hf_loading import ModelCache, download_command, generation_for, is_present
from models.runtimes.seq2seq import Seq2SeqRunner, split_sentences
from models.text.glossary import Glossary
from settings.schema import SUPPORTED_LANGUAGES, ModelsSettings, TranslationSettings

log = logging.getLogger(__name__)

NLLB_CODES = {"en": "eng_Latn", "hi": "hin_Deva", "ru": "rus_Cyrl"}
M2M100_CODES = {"en": "en", "hi": "hi", "ru": "ru"}
PIVOT = "en"
_BULLET = re.compile(r"^(\s*(?:[-*•–—·]|\d{1,3}[.)])\s+|\s*)(.*?)(\s*)$", re.S)


@dataclass(frozen=True, slots=True)
class Hop:
    source: str
    target: str
    model: str

    def __str__(self) -> str:
        return f"{self.source}->{self.target}:{self.model}"


@dataclass(frozen=True, slots=True)
class _Line:
    text: int  # index of the input text
    lead: str
    trail: str
    units: tuple[int, ...]  # indices into the unit list


class HFTranslator:
    """Shared structure for both kinds: layout, sentence units, glossary, hops."""

    base_name = "hf"

    def __init__(
        self,
        settings: TranslationSettings,
        models: ModelsSettings,
        cache: ModelCache,
        glossary: Glossary | None = None,
    ) -> None:
        self.settings = settings
        self.models_settings = models
        self.cache = cache
        self.glossary = glossary or Glossary()

    @property
    def name(self) -> str:
        """``opus-mt``, or ``opus-mt:ctranslate2-int8`` when converted models run (routes say
        which backend ran; a mix of backends lists both)."""
        labels = set()
        for model in self._present_models():
            try:
                labels.add(self.cache.backend(model))
            except ModelUnavailableError:
                continue
        if labels <= {"transformers"}:
            return self.base_name
        return f"{self.base_name}:{'+'.join(sorted(labels))}"

    def _usable(self, model: str) -> bool:
        """Downloaded and, with ``[models] backend = "ctranslate2"``, converted."""
        if not is_present(model, self.models_settings.cache_dir):
            return False
        try:
            self.cache.converted(model)
        except ModelUnavailableError:
            return False
        return True

    def _fix_hint(self, model: str) -> str:
        """The command that makes ``model`` usable."""
        if is_present(model, self.models_settings.cache_dir):
            return f"{model} (convert it with: {convert_command(model)})"
        return f"{model} (fetch it with: {download_command(model)})"

    def _fix_command(self, models: Sequence[str]) -> str:
        """One command that makes ``models`` usable (download first, convert next)."""
        absent = [m for m in models if not is_present(m, self.models_settings.cache_dir)]
        if absent:
            return "briefing-digest models download " + " ".join(absent)
        return "briefing-digest models convert " + " ".join(models)

    def missing_remedy(self, source: str, target: str) -> Remedy:
        """The models a ``source``->``target`` translation lacks and the command for them."""
        missing = [m for m in self._wanted(source, target) if not self._usable(m)]
        if not missing:
            return Remedy(
                f"a {source}->{target} model ([translation])", "briefing-digest models list"
            )
        return Remedy(", ".join(missing), self._fix_command(missing))

    def _wanted(self, source: str, target: str) -> list[str]:
        """Configured models a direction would use (present or not)."""
        raise NotImplementedError

    # -- what subclasses provide ----------------------------------------------------------
    def _present_models(self) -> list[str]:
        """The configured models that are present (those a translation may load)."""
        raise NotImplementedError

    def route(self, source: str, target: str) -> list[Hop]:
        """The models a translation passes through; empty when it cannot be done."""
        raise NotImplementedError

    def _runner(self, hop: Hop) -> Seq2SeqRunner:
        raise NotImplementedError

    def _codes(self, runner: Seq2SeqRunner, hop: Hop) -> tuple[str | None, int | None]:
        """(tokenizer source language, forced first token) for a hop."""
        return None, None

    # -- the Translator interface ---------------------------------------------------------
    def supports(self, source: str, target: str) -> bool:
        return source == target or bool(self.route(source, target))

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        if source == target or not any(t.strip() for t in texts):
            return list(texts)
        hops = self.route(source, target)
        if not hops:
            raise ModelUnavailableError(self.missing_message(source, target))
        lines, units = _layout(texts)
        for hop in hops:
            units = self._translate_units(units, hop)
        out: list[list[str]] = [[] for _ in texts]
        for line in lines:
            body = " ".join(units[u] for u in line.units if units[u])
            out[line.text].append(f"{line.lead}{body}{line.trail}" if body else line.lead.rstrip())
        return ["\n".join(parts) for parts in out]

    def describe_route(self, source: str, target: str) -> str:
        return " | ".join(str(h) for h in self.route(source, target))

    def missing_message(self, source: str, target: str) -> str:
        return f"no {source}->{target} translation model is available"

    # -- one hop --------------------------------------------------------------------------
    def _translate_units(self, units: list[str], hop: Hop) -> list[str]:
        runner = self._runner(hop)
        source_code, forced = self._codes(runner, hop)
        mode = self.settings.glossary
        inputs = list(units)
        protected = None
        if mode == "placeholders" and len(self.glossary):
            protected = [self.glossary.protect(u, hop.source, hop.target) for u in units]
            inputs = [p.text for p in protected]
        outputs = self._generate(runner, inputs, source_code, forced)
        if protected is not None:
            retry = []
            for i, p in enumerate(protected):
                restored = self.glossary.restore(outputs[i], p)
                if restored is None:
                    retry.append(i)
                else:
                    outputs[i] = restored
            if retry:
                log.debug("placeholders lost; translating again", extra={"sentences": len(retry)})
                again = self._generate(runner, [units[i] for i in retry], source_code, forced)
                for i, text in zip(retry, again, strict=True):
                    outputs[i] = text
        if mode != "off" and len(self.glossary):
            outputs = [
                self.glossary.post_edit(out, src, hop.source, hop.target)
                for out, src in zip(outputs, units, strict=True)
            ]
        return outputs

    @staticmethod
    def _generate(
        runner: Seq2SeqRunner, units: list[str], source_code: str | None, forced: int | None
    ) -> list[str]:
        """Translate sentence units, splitting any longer than the window into pieces."""
        pieces: list[str] = []
        owner: list[int] = []
        for i, unit in enumerate(units):
            if not unit.strip():
                continue
            for chunk in runner.chunks([unit]):
                pieces.append(chunk.text)
                owner.append(i)
        translated = runner.generate(pieces, source_code=source_code, forced_bos_token_id=forced)
        joined: list[list[str]] = [[] for _ in units]
        for i, text in zip(owner, translated, strict=True):
            joined[i].append(text)
        return [" ".join(t for t in parts if t) for parts in joined]


def _layout(texts: Sequence[str]) -> tuple[list[_Line], list[str]]:
    """Lines of each text with their bullet markers, and the sentence units to translate."""
    lines: list[_Line] = []
    units: list[str] = []
    for index, text in enumerate(texts):
        for raw in text.split("\n"):
            match = _BULLET.match(raw)
            lead, body, trail = (
                (match.group(1), match.group(2), match.group(3)) if match else ("", raw, "")
            )
            ids = []
            for sentence in split_sentences(body):
                ids.append(len(units))
                units.append(sentence)
            lines.append(_Line(index, lead, trail.replace("\n", ""), tuple(ids)))
    return lines, units


class DirectionalTranslator(HFTranslator):
    """One opus-mt style model per direction, pivoting through English."""

    base_name = "opus-mt"

    def _present_models(self) -> list[str]:
        models = dict.fromkeys(self.settings.direction_models.values())
        return [m for m in models if self._usable(m)]

    def route(self, source: str, target: str) -> list[Hop]:
        if source == target:
            return []
        direct = self._hop(source, target)
        if direct:
            return [direct]
        if PIVOT in (source, target):
            return []
        first, second = self._hop(source, PIVOT), self._hop(PIVOT, target)
        return [first, second] if first and second else []

    def _hop(self, source: str, target: str) -> Hop | None:
        name = self.settings.direction_models.get(f"{source}-{target}")
        if name and self._usable(name):
            return Hop(source, target, name)
        return None

    def _wanted(self, source: str, target: str) -> list[str]:
        return self.wanted(source, target)

    def wanted(self, source: str, target: str) -> list[str]:
        """Configured models a direction would use (present or not)."""
        models = self.settings.direction_models
        if f"{source}-{target}" in models:
            return [models[f"{source}-{target}"]]
        return [m for m in (models.get(f"{source}-en"), models.get(f"en-{target}")) if m]

    def missing_message(self, source: str, target: str) -> str:
        wanted = self.wanted(source, target)
        missing = [m for m in wanted if not self._usable(m)]
        if not wanted:
            return f"no model is configured for {source}->{target} ([translation.direction_models])"
        return f"{source}->{target} needs " + "; ".join(self._fix_hint(m) for m in missing)

    def _runner(self, hop: Hop) -> Seq2SeqRunner:
        loaded = self.cache.get(hop.model)
        generation = generation_for(
            hop.model, self.settings.generation, self.models_settings.generation
        )
        return make_runner(loaded, generation, self.settings.batch_size)


class MultilingualTranslator(HFTranslator):
    """One NLLB-200 or M2M100 model for every direction."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.model = self.settings.multilingual_model
        self.base_name = self.model.rsplit("/", 1)[-1]

    def _present_models(self) -> list[str]:
        return [self.model] if self._usable(self.model) else []

    def _wanted(self, source: str, target: str) -> list[str]:
        return [self.model]

    def route(self, source: str, target: str) -> list[Hop]:
        if (
            source == target
            or source not in SUPPORTED_LANGUAGES
            or target not in SUPPORTED_LANGUAGES
        ):
            return []
        if not self._usable(self.model):
            return []
        return [Hop(source, target, self.model)]

    def missing_message(self, source: str, target: str) -> str:
        if is_present(self.model, self.models_settings.cache_dir):
            return f"model {self.model} is not converted; convert it with: " + convert_command(
                self.model
            )
        return (
            f"model {self.model} is not downloaded; fetch it with: {download_command(self.model)}"
        )

    def _runner(self, hop: Hop) -> Seq2SeqRunner:
        loaded = self.cache.get(hop.model)
        generation = generation_for(
            hop.model, self.settings.generation, self.models_settings.generation
        )
        return make_runner(loaded, generation, self.settings.batch_size)

    def _codes(self, runner: Seq2SeqRunner, hop: Hop) -> tuple[str | None, int | None]:
        return language_codes(runner.loaded.tokenizer, hop.source, hop.target, runner.name)


def language_codes(tokenizer: object, source: str, target: str, name: str) -> tuple[str, int]:
    """(source code for the tokenizer, id of the target code forced as first token)."""
    if hasattr(tokenizer, "get_lang_id"):  # M2M100
        return M2M100_CODES[source], tokenizer.get_lang_id(M2M100_CODES[target])  # type: ignore[attr-defined]
    convert = tokenizer.convert_tokens_to_ids  # type: ignore[attr-defined]
    code = NLLB_CODES[target]
    forced = convert(code)
    if forced is None or forced == getattr(tokenizer, "unk_token_id", None):
        raise ModelUnavailableError(
            f"model {name} has no {code} language token: it is not an NLLB or M2M100 model "
            f"([translation] multilingual_model)"
        )
    return NLLB_CODES[source], forced


def unbuilt_translator(
    translation: TranslationSettings, models: ModelsSettings, cache: ModelCache
) -> HFTranslator:
    """The configured translator without checking its models (to say what is missing)."""
    if translation.kind == "multilingual":
        return MultilingualTranslator(translation, models, cache)
    return DirectionalTranslator(translation, models, cache)


def build_translator(
    translation: TranslationSettings,
    models: ModelsSettings,
    cache: ModelCache,
    glossary: Glossary | None = None,
) -> HFTranslator:
    """The configured translator; ModelUnavailableError when none of its models is present."""
    if translation.kind == "multilingual":
        translator: HFTranslator = MultilingualTranslator(translation, models, cache, glossary)
        cache.resolve(translation.multilingual_model)
        return translator
    if translation.kind != "per_direction":
        raise ModelUnavailableError("translation is turned off ([translation] kind = none)")
    directional = DirectionalTranslator(translation, models, cache, glossary)
    present = [m for m in translation.direction_models.values() if is_present(m, models.cache_dir)]
    if not present:
        missing = sorted(set(translation.direction_models.values()))
        command = f"briefing-digest models download {' '.join(missing)}"
        raise ModelUnavailableError(
            f"no translation model is downloaded; fetch them with: {command}",
            Remedy(", ".join(missing), command),
        )
    return directional
