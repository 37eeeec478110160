"""CTranslate2: the fast CPU runtime for the seq2seq models, behind the runner interface.

A model converted with ``briefing-digest models convert`` (Marian/opus-mt, M2M100, NLLB,
T5/mT5, BART) lives beside its Hugging Face directory as ``<model dir>/ct2-<type>/`` (or under
``[models] ct2_dir`` as ``DIR/owner--name/ct2-<type>/``). With ``[models] backend = "auto"``
the model cache loads the conversion when it is present, else the transformers model;
``"ctranslate2"`` requires one. The Hugging Face tokenizer still does the tokenizing, so
inputs, windows and chunking are exactly those of :class:`models.runtimes.seq2seq.Seq2SeqRunner`;
only generation moves: token strings in, token ids out (``Translator.translate_batch``).

Decoding mirrors ``transformers.generate`` as the product calls it, so a float32 conversion
gives the same greedy tokens: the forced first token (NLLB/M2M100 target language, BART's
``<s>``) is the target prefix; a model whose generation config forces EOS at the length limit
(opus-mt) gets one step less, because transformers spends its last step on that EOS.

``ctranslate2`` is imported only when a converted model is loaded or a model converted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.base import ModelUnavailableError, Remedy, error_line
from models.runtimes import backends
from models.runtimes.hf_loading import (
    LoadedModel,
    input_limit,
    is_local_name,
    load_tokenizer_and_config,
    local_dir_name,
    model_family,
)
from models.runtimes.seq2seq import Seq2SeqRunner
from settings.schema import GenerationSettings, ModelsSettings

log = logging.getLogger(__name__)

COMPUTE_TYPES = ("int8", "int8_float32", "float32")
CONVERTED_PREFIX = "ct2-"
_MODEL_FILE = "model.bin"
_MB = 1024 * 1024


class ConversionError(RuntimeError):
    """A model directory could not be converted; the message is one line naming it."""


def backend_label(compute_type: str) -> str:
    """How routes and logs name the CTranslate2 backend: ``ctranslate2-int8``."""
    return f"ctranslate2-{compute_type}"


def convert_command(name: str) -> str:
    return f"briefing-digest models convert {name}"


# -- where converted models live ----------------------------------------------------------
def converted_dir(
    name: str, model_path: Path, settings: ModelsSettings, compute_type: str | None = None
) -> Path:
    """Where the ``compute_type`` conversion of model ``name`` (at ``model_path``) belongs."""
    return conversion_dir(
        name, model_path, settings, CONVERTED_PREFIX + (compute_type or settings.ct2_compute_type)
    )


def conversion_dir(name: str, model_path: Path, settings: ModelsSettings, leaf: str) -> Path:
    """``<model dir>/LEAF``, or ``[models] ct2_dir/<model>/LEAF`` when that is set (every
    runtime's conversions live there)."""
    if not settings.ct2_dir:
        return model_path / leaf
    # Hub ids keep their owner (two owners' "opus-mt-en-hi" must not collide); a local
    # directory is known by its own name.
    folder = model_path.name if is_local_name(name) else local_dir_name(name)
    return Path(settings.ct2_dir).expanduser() / folder / leaf


def is_converted(path: Path) -> bool:
    return (path / _MODEL_FILE).is_file() and (path / "config.json").is_file()


def select(name: str, model_path: Path, settings: ModelsSettings) -> Path | None:
    """The converted model to run for ``name``, or None for transformers.

    Raises ModelUnavailableError when ``backend = "ctranslate2"`` and there is no conversion.
    """
    if settings.backend == "transformers":
        return None
    converted = converted_dir(name, model_path, settings)
    if is_converted(converted):
        return converted
    if settings.backend == "ctranslate2":
        raise ModelUnavailableError(
            f"model {name} has no {settings.ct2_compute_type} CTranslate2 conversion at "
            f'{converted} ([models] backend = "ctranslate2"); convert it with: '
            f"{convert_command(name)}",
            Remedy(f"the CTranslate2 conversion of {name}", convert_command(name)),
        )
    return None


# -- threads and device -------------------------------------------------------------------
def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def thread_counts(settings: ModelsSettings, cores: int | None = None) -> tuple[int, int]:
    """(inter_threads, intra_threads) with their product within the cores.

    Oversubscribing cores makes every thread wait on the others: on a 2-core server
    2 x 2 threads is slower than 1 x 2, so a configuration asking for more is cut down.
    """
    cores = cores or available_cores()
    inter = max(1, min(settings.ct2_inter_threads, cores))
    intra = settings.ct2_intra_threads or max(1, cores // inter)
    if inter * intra > cores:
        reduced = max(1, cores // inter)
        log.warning(
            "CTranslate2 threads reduced to fit the cores",
            extra={"inter": inter, "intra": intra, "cores": cores, "intra_used": reduced},
        )
        intra = reduced
    return inter, intra


def parallel_batch_size(batch_size: int, inter_threads: int, inputs: int = 0) -> int:
    """Inputs per CTranslate2 batch: at most ``batch_size`` (what one transformers batch
    holds), and, given the number of ``inputs``, evened out over a whole number of rounds of
    ``inter_threads`` parallel batches, so that no thread idles through the last round (24
    sentences, batch 16, 2 threads: 12 + 12, not 16 + 8; 9 sentences: 5 + 4).

    Each parallel batch is as large as the configured batch allows rather than a share of
    it: a decoding step multiplies the weights by every row of its batch, and on 2 cores two
    batches of 12 sentences took ~25% less CPU per token than four of 6 (docs/performance.md).
    So up to ``inter_threads x batch_size`` inputs are in flight.
    """
    size = max(1, batch_size)
    inter = max(1, inter_threads)
    if inputs <= 0:
        return size
    batches = -(-inputs // size)
    batches = min(inputs, -(-batches // inter) * inter)  # whole rounds, never an empty batch
    return max(1, -(-inputs // batches))


def batching_options(lengths: Sequence[int], batch_size: int, inter_threads: int) -> dict[str, Any]:
    """translate_batch's batching for inputs of these token ``lengths``: by examples.

    CTranslate2 sorts the inputs by length (little padding) and cuts them into batches of
    :func:`parallel_batch_size` inputs. Not by tokens: CTranslate2 counts a token batch as
    its padded size, so a batch of the longest inputs holds only a few of them (3 of 24
    sentences), and every one of its decoding steps runs on those few rows; with the same
    number of inputs in every batch the parallel threads also finish together.
    """
    if not lengths:
        return {"max_batch_size": 0, "batch_type": "examples"}
    per_batch = parallel_batch_size(batch_size, inter_threads, len(lengths))
    return {"max_batch_size": per_batch, "batch_type": "examples"}


def ct2_device(wanted: str) -> str:
    if wanted == "cpu":
        return "cpu"
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        return "cuda"
    if wanted == "cuda":
        log.warning("device 'cuda' is configured but CUDA is not available: using the CPU")
    return "cpu"


# -- loading ------------------------------------------------------------------------------
@dataclass(eq=False)
class CT2Model:
    """What ``LoadedModel.model`` holds for a converted model: the runtime and the HF config
    (windows, special ids and summarisation prefixes are read from the config, as for
    transformers)."""

    translator: Any
    config: Any
    path: Path
    compute_type: str
    inter_threads: int = 1
    forced_bos_token_id: int | None = None
    forced_eos_token_id: int | None = None

    @property
    def has_vmap(self) -> bool:
        return (self.path / "vmap.txt").is_file()


def load_converted(name: str, path: Path, converted: Path, settings: ModelsSettings) -> LoadedModel:
    """The converted model at ``converted`` with the tokenizer and config of ``path``."""
    import ctranslate2

    started = time.perf_counter()
    config, tokenizer, _ = load_tokenizer_and_config(name, path)
    inter, intra = thread_counts(settings)
    device = ct2_device(settings.device)
    try:
        translator = ctranslate2.Translator(
            str(converted),
            device=device,
            compute_type=settings.ct2_compute_type,
            inter_threads=inter,
            intra_threads=intra,
        )
    except Exception as exc:  # truncated model.bin, a newer format: name it and the fix
        raise ModelUnavailableError(
            f"converted model {name} at {converted} could not be loaded: {error_line(exc)}; "
            f"convert it again with: {convert_command(name)} --force"
        ) from exc
    forced_bos, forced_eos = _forced_tokens(path, config)
    size = (converted / _MODEL_FILE).stat().st_size
    loaded = LoadedModel(
        name=name,
        path=path,
        tokenizer=tokenizer,
        model=CT2Model(
            translator,
            config,
            converted,
            settings.ct2_compute_type,
            inter,
            forced_bos,
            forced_eos,
        ),
        device=device,
        family=model_family(config, tokenizer),
        size_bytes=size,
        max_input_tokens=input_limit(config, tokenizer),
        load_seconds=time.perf_counter() - started,
        backend=backend_label(settings.ct2_compute_type),
    )
    log.info(
        "model loaded",
        extra={
            "model": name,
            "family": loaded.family,
            "backend": loaded.backend,
            "device": device,
            "threads": f"{inter}x{intra}",
            "mb": round(size / _MB, 1),
            "seconds": round(loaded.load_seconds, 2),
        },
    )
    return loaded


def _forced_tokens(path: Path, config: Any) -> tuple[int | None, int | None]:
    """Forced first/last tokens of the model's generation config (what generate() applies)."""
    from transformers import GenerationConfig

    try:
        generation = GenerationConfig.from_pretrained(path, local_files_only=True)
    except OSError:  # no generation_config.json: generate() derives it from config.json
        generation = GenerationConfig.from_model_config(config)
    return generation.forced_bos_token_id, generation.forced_eos_token_id


# -- generating ---------------------------------------------------------------------------
class CT2Runner(Seq2SeqRunner):
    """:class:`Seq2SeqRunner` with generation done by CTranslate2.

    All inputs of a call go to CTranslate2 at once: it sorts them by length and splits them
    into batches itself (little padding), and with inter_threads > 1 runs those batches in
    parallel, each of at most ``batch_size`` inputs, evened out (:func:`batching_options`).
    Beam search returns one hypothesis and no alternatives, scores or attention (none is used).
    The tokenizer (stateful for NLLB/M2M100) is used under the model's lock; generation runs
    outside it, so that several jobs share one model.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        generation: GenerationSettings,
        batch_size: int = 8,
        prefix: str = "",
    ) -> None:
        super().__init__(loaded, generation, batch_size, prefix)
        self.ct2: CT2Model = loaded.model

    def generate(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int | None = None,
        source_code: str | None = None,
        forced_bos_token_id: int | None = None,
    ) -> list[str]:
        ids = self.generate_ids(
            texts,
            max_new_tokens=max_new_tokens,
            source_code=source_code,
            forced_bos_token_id=forced_bos_token_id,
        )
        with self.loaded.lock:
            decoded = self.decode(ids)
        return [text if row else "" for text, row in zip(decoded, ids, strict=True)]

    def generate_ids(
        self,
        texts: Sequence[str],
        *,
        max_new_tokens: int | None = None,
        source_code: str | None = None,
        forced_bos_token_id: int | None = None,
    ) -> list[list[int]]:
        """Generated ids per input (forced first token included, decoder start and EOS not);
        empty inputs give empty lists."""
        results: list[list[int]] = [[] for _ in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        if not todo:
            return results
        tokenizer = self.loaded.tokenizer
        forced = forced_bos_token_id
        if forced is None:
            forced = self.ct2.forced_bos_token_id
        with self.loaded.lock:
            encoded = self.encode([self.prefix + texts[i].strip() for i in todo], source_code)
            tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in encoded]
            prefix = None
            if forced is not None:
                prefix = [[tokenizer.convert_ids_to_tokens(forced)]] * len(tokens)
        outputs = self.ct2.translator.translate_batch(
            tokens,
            target_prefix=prefix,
            **batching_options([len(t) for t in tokens], self.batch_size, self.ct2.inter_threads),
            **self.decoding_options(max_new_tokens),
        )
        with self.loaded.lock:
            for k, output in enumerate(outputs):
                results[todo[k]] = tokenizer.convert_tokens_to_ids(output.hypotheses[0])
        return results

    def decoding_options(self, max_new_tokens: int | None = None) -> dict[str, Any]:
        """translate_batch options equivalent to :meth:`Seq2SeqRunner.generation_kwargs`."""
        g = self.generation
        limit = self.output_limit(max_new_tokens)
        if self.ct2.forced_eos_token_id is not None and limit > 1:
            # generate() turns the last step into a forced EOS; the text ends one token earlier.
            limit -= 1
        options: dict[str, Any] = {
            "beam_size": g.num_beams,
            "max_decoding_length": limit,
            # CTranslate2's default of 1 would forbid an immediate EOS, which generate() allows.
            "min_decoding_length": min(g.min_new_tokens, limit),
            "num_hypotheses": 1,
            "no_repeat_ngram_size": g.no_repeat_ngram_size,
            # Inputs are already windowed (chunks()); the default would cut them at 1024 tokens.
            "max_input_length": 0,
            # A vocabulary map (vmap.txt, from conversion with --vocab_mapping) restricts the
            # output layer to the candidates of each source: fewer logits a step.
            "use_vmap": self.ct2.has_vmap,
        }
        if g.num_beams > 1:
            options["length_penalty"] = g.length_penalty
        return options


def make_runner(
    loaded: LoadedModel, generation: GenerationSettings, batch_size: int = 8, prefix: str = ""
) -> Seq2SeqRunner:
    """The runner for a loaded model, whichever backend loaded it."""
    runner = CT2Runner if isinstance(loaded.model, CT2Model) else Seq2SeqRunner
    return runner(loaded, generation, batch_size, prefix)


# -- converting ---------------------------------------------------------------------------
_CONVERTER_LOCK = threading.Lock()


def converter_class() -> type:
    """TransformersConverter with the two fixes transformers 5 needs (checked on 5.24)."""
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):  # type: ignore[misc]
        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            if model.config.model_type == "bart" and not hasattr(model.config, "normalize_before"):
                # transformers 5 dropped this key from BartConfig (BART is post-norm); the
                # converter still reads it. Checkpoints that carry it keep their value.
                model.config.normalize_before = False
            if model.config.model_type in ("t5", "mt5", "umt5"):
                # transformers 5 forces tie_word_embeddings=True on T5 configs and decides the
                # decoder output scaling by scale_decoder_outputs (never, for mT5); the converter
                # scales by tie_word_embeddings. Scaled logits keep the greedy argmax but flatten
                # beam-search scores, so make the converter scale exactly when transformers does.
                model.config.tie_word_embeddings = bool(
                    getattr(model.config, "scale_decoder_outputs", False)
                )
            return model

        def load_tokenizer(
            self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any
        ) -> Any:
            tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            return _with_language_tokens(tokenizer)

    return Converter


class _TokenizerView:
    """A tokenizer whose ``special_tokens_map`` lists its language tokens again.

    The converter builds M2M100's vocabulary from ``additional_special_tokens``, which
    transformers 5's M2M100Tokenizer no longer lists: without them the vocabulary is 100
    tokens short and conversion fails.
    """

    def __init__(self, tokenizer: Any, language_tokens: list[str]) -> None:
        self._tokenizer = tokenizer
        self._language_tokens = language_tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    @property
    def special_tokens_map(self) -> dict[str, Any]:
        return {
            **self._tokenizer.special_tokens_map,
            "additional_special_tokens": self._language_tokens,
        }


def _with_language_tokens(tokenizer: Any) -> Any:
    codes = getattr(tokenizer, "lang_code_to_id", None)
    if not codes or not hasattr(tokenizer, "get_lang_token"):
        return tokenizer
    if tokenizer.special_tokens_map.get("additional_special_tokens"):
        return tokenizer
    ordered = sorted(codes.items(), key=lambda item: item[1])
    return _TokenizerView(tokenizer, [tokenizer.get_lang_token(code) for code, _ in ordered])


def convert(source: Path, out: Path, quantization: str = "int8", force: bool = False) -> Path:
    """Convert the Hugging Face model directory ``source`` into ``out``.

    The conversion is written next to ``out`` and renamed into place at the end, so a
    pipeline never sees half a model. Raises ConversionError (one line naming ``source``)
    for anything that is not a convertible seq2seq model, and FileExistsError when ``out``
    holds a conversion and ``force`` is not set.
    """
    if quantization not in COMPUTE_TYPES:
        raise ConversionError(f"unknown quantization {quantization}: one of {COMPUTE_TYPES}")
    check_source(source, out, force)

    def write(folder: Path) -> None:
        # The converter registers loaders globally and holds torch state: one at a time.
        with _CONVERTER_LOCK:
            converter_class()(str(source)).convert(
                str(folder), quantization=quantization, force=True
            )

    try:
        return write_in_place(out, write)
    except Exception as exc:
        raise ConversionError(f"cannot convert {source}: {error_line(exc)}") from exc


def check_source(source: Path, out: Path, force: bool) -> None:
    """What every conversion checks first: ``source`` is a model directory, and ``out`` holds
    no conversion unless ``force`` (ConversionError, FileExistsError)."""
    if not source.is_dir():
        raise ConversionError(f"cannot convert {source}: not a directory")
    if not (source / "config.json").is_file():
        raise ConversionError(f"cannot convert {source}: no config.json (not a model directory)")
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists (convert again with --force)")


def write_in_place(out: Path, write: Callable[[Path], None]) -> Path:
    """``write(folder)`` into a new folder beside ``out``, renamed to ``out`` once it is
    complete, so a pipeline never sees half a model; the folder is removed if it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        write(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


class CT2Backend:
    """CTranslate2 in the backend registry (:mod:`models.runtimes.backends`)."""

    def select(self, name: str, model_path: Path, settings: ModelsSettings) -> Path | None:
        return select(name, model_path, settings)

    def label(self, settings: ModelsSettings) -> str:
        return backend_label(settings.ct2_compute_type)

    def load(self, name: str, path: Path, converted: Path, settings: ModelsSettings) -> LoadedModel:
        return load_converted(name, path, converted, settings)


backends.register(CT2Backend())
