"""Generation speed of the seq2seq models on this CPU: transformers fp32 against CTranslate2.

    briefing-digest bench [--quick | --smoke] [--json FILE] [--explore] [--work DIR]
    python bench/seq2seq_speed.py ...            (the same, without installing)

Models of the real architectures and sizes are built from ``bench/configs/*.json`` (the
checkpoints' own ``config.json`` values) with random weights: speed depends on shapes, not on
what the weights are, so nothing is downloaded. Each model is saved with safetensors and
converted for CTranslate2 (``ct2-<type>`` beside it, as ``briefing-digest models convert``
lays it out). opus-mt and distilbart get tokenizers trained on the sample briefings (their
vocabularies padded to the real sizes, the padding never generated), so the end-to-end run
below can use them; NLLB and mT5 are fed random token ids directly.

Every measurement runs in its own subprocess, so peak RSS (VmHWM) is that backend's alone,
and reports, per model and backend in the same run:

- generated tokens/s for a fixed workload (sentences for translation, topic windows for
  summarisation) with a fixed output length (min = max new tokens, so runs are comparable),
  beams, batch sizes and CTranslate2 threads as the product's defaults, inputs sorted by
  length as the product batches them; after one untimed pass over the workload, the median
  of ``--rounds`` timed passes, interleaved with the other backends' (bench/interleaved.py);
- peak RSS, and the speedup and memory ratio against transformers fp32;
- end to end (full run only): the product pipeline digesting ``en_moscow_briefing.txt``
  (~500 words) in en + hi + ru with opus-mt-size translation and distilbart-size
  summarisation, first digest (models loading) and a second one (models loaded).

``--quick`` measures opus-mt-en-hi and distilbart-cnn-12-6 on fewer inputs, in 5 rounds
(~75 s on 2 quiet cores), or as many as fit in 30 s of timed rounds a model but at least 3
on a slower machine;
``--smoke`` runs everything on shrunken configurations in seconds (what CI runs);
``--explore`` adds the other CPU options tried, for one translation and one summarisation
model: batches in input order (``+unsorted``), greedy search (``+greedy``), torch bfloat16,
CTranslate2 with one batch at a time on every core (``+intra``) and with the batching of the
previous release (``+shared``: the configured batch shared by the parallel batches, counted
in tokens).
On a shared machine other processes slow every figure: the load average is printed, and
ratios measured in the same run are more telling than absolute numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_DIR = HERE / "configs"
SAMPLE_DIRS = (ROOT / "samples", ROOT.parent / "shared" / "samples")
DOCUMENT = "en_moscow_briefing.txt"
MODELS = (
    "opus-mt-en-hi",
    "opus-mt-en-ru",
    "nllb-200-distilled-600M",
    "mt5-base",
    "distilbart-cnn-12-6",
)
E2E_MODELS = {
    "en-hi": "opus-mt-en-hi",
    "en-ru": "opus-mt-en-ru",
    "summariser": "distilbart-cnn-12-6",
}
EXPLORE_MODELS = ("opus-mt-en-hi", "distilbart-cnn-12-6")
BASELINE = "transformers-fp32"
# Other CPU options tried (--explore); the product keeps only what these show to help.
EXPLORE = (
    "transformers-fp32+unsorted",
    "transformers-fp32+greedy",
    "transformers-bf16",
    "ctranslate2-int8+greedy",
    "ctranslate2-int8+intra",
    "ctranslate2-int8+shared",
)
# Tokens the trained tokenizers learn; the rest of each real vocabulary is padding that the
# model is kept from generating (a large negative output bias), so generated text is words.
TRAINED_VOCAB = 8000
_BLOCKED = -1.0e4
# Shrunken shapes for --smoke.
_TINY = {
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 1,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "num_layers": 1,
    "num_decoder_layers": 1,
    "num_heads": 2,
    "d_kv": 16,
    "d_ff": 64,
}
_TINY_VOCAB = 1200
# Where --quick keeps its models between runs.
QUICK_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "briefing-digest" / "bench"
)
# Models built by an older version of build() are built again.
BUILDER_VERSION = 3


@dataclass(frozen=True)
class Mode:
    name: str
    models: tuple[str, ...]
    backends: tuple[str, ...]
    sentences: int  # translation inputs
    windows: int  # summarisation inputs
    translation_tokens: int  # fixed output length
    summary_tokens: int
    # Every model x backend is measured this many times, interleaved (A B A B ...); medians
    # are reported.
    rounds: int
    end_to_end: bool
    shrink: bool
    # With a budget, rounds past min_rounds run only while they fit in round_budget_s seconds
    # a model (a slow machine gets fewer rounds, and the run stays near its time).
    min_rounds: int = 1
    round_budget_s: float | None = None
    # Output length of each translated sentence and summary in the end-to-end digest.
    e2e_translation_tokens: int = 48
    e2e_summary_tokens: int = 64


MODES = {
    "full": Mode(
        "full",
        MODELS,
        (
            "transformers-fp32",
            "ctranslate2-int8",
            "ctranslate2-int8_float32",
            "ctranslate2-float32",
        ),
        sentences=32,
        windows=8,
        translation_tokens=40,
        summary_tokens=64,
        rounds=3,
        end_to_end=True,
        shrink=False,
    ),
    "quick": Mode(
        "quick",
        ("opus-mt-en-hi", "distilbart-cnn-12-6"),
        ("transformers-fp32", "ctranslate2-int8"),
        sentences=24,
        windows=4,
        translation_tokens=40,
        summary_tokens=32,
        rounds=5,  # a CTranslate2 pass is ~1 s: the median of 5 pairs, not of 3
        end_to_end=False,
        shrink=False,
        # 5 rounds took ~28 s a model on a quiet machine and ~40 s in a slower hour; at least
        # 3 (the median of 3 pairs) keeps --quick within ~90 s there too.
        min_rounds=3,
        round_budget_s=30.0,
    ),
    "smoke": Mode(
        "smoke",
        # distilbart runs in the end-to-end digest; mT5 (T5 conversion) is left to full runs.
        ("opus-mt-en-hi", "nllb-200-distilled-600M"),
        ("transformers-fp32", "ctranslate2-int8"),
        sentences=3,
        windows=2,
        translation_tokens=4,
        summary_tokens=4,
        rounds=1,
        end_to_end=True,
        shrink=True,
        e2e_translation_tokens=4,
        e2e_summary_tokens=4,
    ),
}


# -- arguments ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="one translation and one summarisation model, 3-5 rounds, ~75-90 s",
    )
    size.add_argument("--smoke", action="store_true", help="tiny shapes, seconds (for CI)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument("--models", nargs="+", choices=MODELS, help="only these models")
    parser.add_argument(
        "--backends",
        nargs="+",
        help="only these backends (transformers-fp32 always runs: it is the baseline)",
    )
    parser.add_argument("--explore", action="store_true", help="also measure other CPU options")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end digest")
    parser.add_argument("--beams", type=int, default=2, help="beam size (the product's: 2)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="measure every backend this often, interleaved (medians are reported; at least 3 "
        "for --quick)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement wait up to this long for the CPU to be idle",
    )
    parser.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    parser.add_argument(
        "--work", type=Path, help="build models here and keep them (reused by the next run)"
    )


# -- building models ----------------------------------------------------------------------
def load_config(name: str, shrink: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json values, the ``_bench`` notes) of a model, shrunk for --smoke."""
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text(encoding="utf-8"))
    meta = dict(raw.get("_bench", {}))
    values = {k: v for k, v in raw.items() if not k.startswith("_")}
    if shrink:
        vocab = values["vocab_size"]
        cut = vocab - _TINY_VOCAB

        def moved(token_id: Any) -> Any:
            # Ids at the end of the vocabulary (opus-mt's <pad>, NLLB's languages) move down.
            return (
                token_id - cut
                if isinstance(token_id, int) and token_id >= _TINY_VOCAB
                else token_id
            )

        values.update({k: v for k, v in _TINY.items() if k in values})
        values["vocab_size"] = _TINY_VOCAB
        if "decoder_vocab_size" in values:
            values["decoder_vocab_size"] = _TINY_VOCAB
        for key in ("pad_token_id", "decoder_start_token_id", "eos_token_id", "bos_token_id"):
            values[key] = moved(values.get(key))
        if "bad_words_ids" in values:
            values["bad_words_ids"] = [[moved(i) for i in ids] for ids in values["bad_words_ids"]]
        if "forced_bos_token_id" in meta:
            meta["forced_bos_token_id"] = moved(meta["forced_bos_token_id"])
    return values, meta


def random_model(values: dict[str, Any]) -> Any:
    """The architecture with random weights, built without transformers' slow initialisation.

    Parameters are made on the meta device and filled from one random block (memcpy speed,
    not random-number speed): a 600M-parameter model takes seconds, not half a minute.
    """
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    config = AutoConfig.for_model(**values)
    with torch.device("meta"):
        model = AutoModelForSeq2SeqLM.from_config(config)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    block = torch.empty(1 << 22).uniform_(-0.04, 0.04, generator=generator)
    with torch.no_grad():
        for index, (name, param) in enumerate(model.named_parameters()):
            if param.dim() == 1:
                # Norm scales 1, biases 0: activations stay in a sane range.
                param.fill_(1.0 if "norm" in name and name.endswith("weight") else 0.0)
                continue
            flat = param.view(-1)
            start = (index * 7919) % block.numel()
            source = torch.cat([block[start:], block[:start]])
            for offset in range(0, flat.numel(), source.numel()):
                piece = flat[offset : offset + source.numel()]
                piece.copy_(source[: piece.numel()])
        for name, buffer in model.named_buffers():
            if name.endswith("final_logits_bias"):
                buffer.zero_()
    model.tie_weights()
    head = model.get_output_embeddings()
    if (
        values.get("tie_word_embeddings") is False
        and head.weight is model.get_input_embeddings().weight
    ):
        # transformers 5 builds mT5 with its output layer tied to the embeddings whatever the
        # config says; the checkpoints have their own (192M parameters, a third of each
        # decoding step). Saved untied, the model loads untied, as the real one does.
        head.weight = torch.nn.Parameter(torch.empty_like(head.weight))
        with torch.no_grad():
            head.weight.uniform_(-0.04, 0.04, generator=generator)
    model.eval()
    return model


def build(name: str, work: Path, mode: Mode, corpus: Path) -> Path:
    """The model's directory (weights, config, tokenizer when trained), built once."""
    # The trainers the tests' tiny models use, here padded to the real vocabulary sizes.
    from models.testing.tiny_seq2seq import train_bart_tokenizer, train_marian_tokenizer

    values, meta = load_config(name, mode.shrink)
    path = work / name
    stamp = json.dumps({"builder": BUILDER_VERSION, **values}, sort_keys=True)
    marker = path / "bench-config.json"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    model = random_model(values)
    kind = meta.get("tokenizer", "synthetic")
    size = values["vocab_size"]
    if kind == "marian":
        trained = train_marian_tokenizer(path, corpus, min(TRAINED_VOCAB, size // 2), size)
    elif kind == "bart":
        trained = train_bart_tokenizer(path, corpus, min(TRAINED_VOCAB, size // 2), size)
    else:
        trained = None
    if trained is not None and hasattr(model, "final_logits_bias"):
        import torch

        with torch.no_grad():
            model.final_logits_bias[:, trained:] = _BLOCKED
    model.save_pretrained(path)
    del model
    marker.write_text(stamp, encoding="utf-8")
    return path


class SyntheticVocabulary:
    """Stands in for a tokenizer when converting a model fed token ids directly: token i is
    ``t<i>``, with the special tokens at the configuration's ids."""

    def __init__(self, config: Any, unk_id: int) -> None:
        self.tokens = [f"t{i}" for i in range(config.vocab_size)]
        special = {
            "bos_token": (getattr(config, "bos_token_id", None), "<s>"),
            "eos_token": (config.eos_token_id, "</s>"),
            "pad_token": (config.pad_token_id, "<pad>"),
            "unk_token": (unk_id, "<unk>"),
        }
        self.special_tokens_map: dict[str, str] = {}
        for key, (token_id, text) in special.items():
            if token_id is None:
                setattr(self, key, None)
                continue
            self.tokens[token_id] = text
            setattr(self, key, text)
            setattr(self, f"{key}_id", token_id)
            self.special_tokens_map[key] = text

    def get_vocab(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def convert_ids_to_tokens(self, ids: Any) -> Any:
        return [self.tokens[i] for i in ids] if isinstance(ids, list) else self.tokens[ids]


def convert(name: str, path: Path, compute_type: str, mode: Mode) -> Path:
    """``<model dir>/ct2-<type>``, converted once (the product's converter when the model
    has a tokenizer)."""
    from models.runtimes.ct2_backend import CONVERTED_PREFIX, converter_class, is_converted
    from models.runtimes.ct2_backend import convert as product_convert

    out = path / f"{CONVERTED_PREFIX}{compute_type}"
    if is_converted(out):
        return out
    _, meta = load_config(name, mode.shrink)
    if meta.get("tokenizer", "synthetic") != "synthetic":
        return product_convert(path, out, compute_type, force=True)
    from transformers import AutoConfig

    unk_id = int(meta.get("unk_token_id", 3))

    class Synthetic(converter_class()):  # type: ignore[misc]
        def load_tokenizer(self, tokenizer_class: Any, model_path: str, **kwargs: Any) -> Any:
            return SyntheticVocabulary(AutoConfig.from_pretrained(model_path), unk_id)

    Synthetic(str(path)).convert(str(out), quantization=compute_type, force=True)
    return out


# -- workloads ----------------------------------------------------------------------------
def workload(task: str, mode: Mode, values: dict[str, Any], seed: int = 0) -> list[list[int]]:
    """Random token ids of realistic lengths: sentences (translation) or topic windows
    (summarisation), each ending with EOS as tokenizers write it."""
    rng = random.Random(seed)
    vocab = values["vocab_size"]
    low, high = 5, max(6, min(vocab - 260, TRAINED_VOCAB) - 1)
    if task == "translation":
        count, lengths = mode.sentences, (8, 60)
    else:
        count, lengths = mode.windows, (160, 480)
    if mode.shrink:
        lengths = (4, 12)
    eos = values["eos_token_id"]
    return [
        [rng.randrange(low, high) for _ in range(rng.randint(*lengths) - 1)] + [eos]
        for _ in range(count)
    ]


def parse_backend(label: str) -> dict[str, Any]:
    """``transformers-fp32``, ``ctranslate2-int8+greedy`` ... as a worker specification."""
    base, *options = label.split("+")
    runtime, _, kind = base.partition("-")
    spec: dict[str, Any] = {"label": label, "options": options}
    if runtime == "transformers":
        dtypes = {"fp32": "float32", "bf16": "bfloat16"}
        if kind not in dtypes:
            raise ValueError(f"unknown backend {label}: transformers-fp32 or transformers-bf16")
        spec.update(worker="transformers", dtype=dtypes[kind])
    elif runtime == "ctranslate2":
        if kind not in ("int8", "int8_float32", "float32"):
            raise ValueError(f"unknown backend {label}: ctranslate2-int8|int8_float32|float32")
        spec.update(worker="ctranslate2", compute_type=kind)
    else:
        raise ValueError(f"unknown backend {label}")
    unknown = set(options) - {"greedy", "unsorted", "intra", "shared"}
    if unknown:
        raise ValueError(f"unknown option {', '.join(sorted(unknown))} in {label}")
    return spec


# -- workers (each in its own process) ----------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    # ru_maxrss is in KB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class TransformersRunner:
    """transformers ``generate`` on the workload, loaded once (a worker process's model)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import torch

        torch.set_num_threads(spec["threads"])
        from transformers import AutoModelForSeq2SeqLM
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.spec = spec
        dtype = torch.bfloat16 if spec["dtype"] == "bfloat16" else torch.float32
        started = time.perf_counter()
        self.model = AutoModelForSeq2SeqLM.from_pretrained(spec["model_dir"], dtype=dtype).eval()
        self.load_s = time.perf_counter() - started
        inputs: list[list[int]] = spec["inputs"]
        order = list(range(len(inputs)))
        if "unsorted" not in spec["options"]:
            order.sort(key=lambda i: -len(inputs[i]))  # what Seq2SeqRunner does: little padding
        size = spec["batch_size"]
        self.batches = [order[i : i + size] for i in range(0, len(order), size)]
        # Warm-up: one untimed pass over the whole workload, as for CTranslate2 below (the
        # first pass allocates the largest batches' working memory; it is not speed).
        self.run()

    def generate(self, batch: list[int], tokens: int) -> int:
        import torch

        spec, inputs = self.spec, self.spec["inputs"]
        pad = self.model.config.pad_token_id
        rows = [inputs[i] for i in batch]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, row in enumerate(rows):
            ids[k, : len(row)] = torch.tensor(row)
            mask[k, : len(row)] = 1
        kwargs: dict[str, Any] = {
            "max_new_tokens": tokens,
            "min_new_tokens": tokens,
            "num_beams": spec["beams"],
            "do_sample": False,
            "no_repeat_ngram_size": spec["no_repeat_ngram_size"],
            "length_penalty": 1.0,
        }
        if spec["beams"] > 1:
            kwargs["early_stopping"] = True
        if spec.get("forced_bos_token_id") is not None:
            kwargs["forced_bos_token_id"] = spec["forced_bos_token_id"]
        with torch.inference_mode():
            output = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        return (output.shape[1] - 1) * len(rows)  # less the decoder start token

    def run(self) -> int:
        """Generated tokens for the whole workload."""
        return sum(self.generate(batch, self.spec["tokens"]) for batch in self.batches)


class CTranslate2Runner:
    """CTranslate2 ``translate_batch`` on the workload with the product's options."""

    def __init__(self, spec: dict[str, Any]) -> None:
        # Only ctranslate2 is imported: the figure is the backend's own memory, without torch.
        import ctranslate2

        from models.runtimes.ct2_backend import batching_options

        self.spec = spec
        started = time.perf_counter()
        self.translator = ctranslate2.Translator(
            spec["ct2_dir"],
            device="cpu",
            compute_type=spec["compute_type"],
            inter_threads=spec["inter_threads"],
            intra_threads=spec["intra_threads"],
        )
        self.load_s = time.perf_counter() - started
        folder = Path(spec["ct2_dir"])
        shared = folder / "shared_vocabulary.json"
        source_vocab = json.loads(
            (shared if shared.is_file() else folder / "source_vocabulary.json").read_text("utf-8")
        )
        target_vocab = (
            source_vocab
            if shared.is_file()
            else json.loads((folder / "target_vocabulary.json").read_text("utf-8"))
        )
        self.tokens = [[source_vocab[i] for i in ids] for ids in spec["inputs"]]
        forced = spec.get("forced_bos_token_id")
        self.prefix = [[target_vocab[forced]]] * len(self.tokens) if forced is not None else None
        # As the product batches (CT2Runner); "+shared" as the previous release did.
        lengths = [len(t) for t in self.tokens]
        if "shared" in spec["options"]:
            batching = shared_batching(lengths, spec["batch_size"], spec["inter_threads"])
        else:
            batching = batching_options(lengths, spec["batch_size"], spec["inter_threads"])
        self.options = {
            **batching,
            "beam_size": spec["beams"],
            "no_repeat_ngram_size": spec["no_repeat_ngram_size"],
            "length_penalty": 1.0,
            "max_input_length": 0,
        }
        # Warm-up: one untimed pass over the whole workload. A first pass allocates the working
        # memory of the largest batches and ran 10-20% slower than the next ones (2026-12-01).
        self.run()

    def generate(self, count: int, length: int) -> int:
        results = self.translator.translate_batch(
            self.tokens[:count],
            target_prefix=self.prefix[:count] if self.prefix else None,
            max_decoding_length=length,
            min_decoding_length=length,
            **self.options,
        )
        return sum(len(r.hypotheses[0]) for r in results)

    def run(self) -> int:
        return self.generate(len(self.tokens), self.spec["tokens"])


def shared_batching(lengths: list[int], batch_size: int, inter_threads: int) -> dict[str, Any]:
    """The previous release's batching (``+shared``): the configured batch shared by the
    parallel batches (``batch_size / inter_threads`` inputs each, evened out), counted in
    tokens of the mean input."""
    inter = max(1, inter_threads)
    per_batch = max(1, -(-batch_size // inter))
    if inter > 1:
        batches = -(-len(lengths) // per_batch)
        batches = -(-batches // inter) * inter
        per_batch = max(1, -(-len(lengths) // batches))
    budget = max(max(lengths), round(per_batch * sum(lengths) / len(lengths)))
    return {"max_batch_size": budget, "batch_type": "tokens"}


RUNNERS: dict[str, type[TransformersRunner] | type[CTranslate2Runner]] = {
    "transformers": TransformersRunner,
    "ctranslate2": CTranslate2Runner,
}


def _result(spec: dict[str, Any], produced: int, seconds: float, load_s: float) -> dict[str, Any]:
    return {
        "tokens": produced,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(produced / seconds, 1) if seconds > 0 else None,
        "load_s": round(load_s, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def worker_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """The product pipeline: one digest in three languages, twice (loading, then loaded)."""
    sys.path.insert(0, str(ROOT))
    from digest.ingest import read_path
    from digest.pipeline import Pipeline
    from settings import load_settings
    from settings.schema import GenerationSettings

    base = load_settings(environ={})
    beams, threads = spec["beams"], spec["threads"]
    inter, intra = spec["ct2_threads"]
    models = base.models.model_copy(
        update={
            "backend": spec["backend"],
            "ct2_compute_type": spec.get("compute_type", "int8"),
            "ct2_inter_threads": inter,
            "ct2_intra_threads": intra,
            "threads": threads,
        }
    )

    def fixed(tokens: int) -> GenerationSettings:
        return GenerationSettings(num_beams=beams, max_new_tokens=tokens, min_new_tokens=tokens)

    translation = base.translation.model_copy(
        update={
            "kind": "per_direction",
            "direction_models": spec["direction_models"],
            "generation": fixed(spec["translation_tokens"]),
        }
    )
    summarisation = base.summarisation.model_copy(
        update={
            "kind": "english",
            "model": spec["summariser"],
            "generation": fixed(spec["summary_tokens"]),
        }
    )
    settings = base.model_copy(
        update={
            "models": models,
            "translation": translation,
            "summarisation": summarisation,
            "summary": base.summary.model_copy(update={"engine": "neural"}),
        }
    )
    document = read_path(Path(spec["document"]), settings.ingest.max_bytes)
    pipeline = Pipeline(settings)
    languages = spec["languages"]
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        digests = pipeline.run(document, languages, "neural")
        timings.append(time.perf_counter() - started)
    return {
        "first_digest_s": round(timings[0], 2),
        "digest_s": round(timings[1], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "words": len(document.text.split()),
        "engine": digests[languages[0]].engine,
        "bullets": {lang: sum(len(t.bullets) for t in d.topics) for lang, d in digests.items()},
        "route": {lang: list(d.route) for lang, d in digests.items()},
        "notices": sorted({n for d in digests.values() for n in d.notices}),
    }


WORKERS = {"pipeline": worker_pipeline}


def run_worker(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its last stdout line is the JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    env = _env()
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", handle.name],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        os.unlink(handle.name)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def _env() -> dict[str, str]:
    """Workers' environment: the checkout importable, no tokenizer threads of their own."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def serve_main(path: str) -> int:
    """A loaded backend answering timed runs (:mod:`bench.interleaved`)."""
    from bench import interleaved

    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    return interleaved.serve(RUNNERS[spec["worker"]], spec)


def worker_main(path: str) -> int:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    result = WORKERS[spec["worker"]](spec)
    print(json.dumps(result))
    return 0


# -- the run ------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 1024**3, 1)
    except (ValueError, OSError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for package in ("torch", "transformers", "ctranslate2"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:  # not installed: the table says so
            versions[package] = None
    return {
        "cpu": cpu,
        "cores": cores,
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        **versions,
    }


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run(args: argparse.Namespace) -> int:
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    if args.rounds:
        mode = replace(mode, rounds=args.rounds)
    models = tuple(args.models or mode.models)
    backends = list(dict.fromkeys([BASELINE, *(args.backends or mode.backends)]))
    for label in backends:
        parse_backend(label)  # unknown names fail before anything is built
    info = machine()
    threads = args.threads or info["cores"] or 1
    # --quick keeps its two models (~2 GB) in the user's cache, so that only the first run
    # builds them; the others build in a temporary directory unless --work says where.
    keep = args.work or (QUICK_CACHE if mode.name == "quick" else None)
    work = keep or Path(tempfile.mkdtemp(prefix="briefing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    run_e2e = mode.end_to_end and not args.no_e2e
    _quiet()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": mode.name,
        "machine": info,
        "threads": threads,
        "beams": args.beams,
        "load_average_before": load_average(),
        "models": {},
    }
    _say(
        f"seq2seq bench ({mode.name}) on {info['cpu']}, {info['cores']} cores, "
        f"{threads} threads, load average {report['load_average_before']}; models in {work}"
    )
    try:
        from models.testing.tiny_seq2seq import training_text

        corpus = work / "corpus.txt"
        corpus.write_text(training_text(), encoding="utf-8")
        needed = set(models)
        if run_e2e:
            needed |= set(E2E_MODELS.values())
        if args.explore:
            needed |= set(EXPLORE_MODELS)
        paths = {}
        for name in [m for m in MODELS if m in needed]:
            began = time.perf_counter()
            paths[name] = build(name, work, mode, corpus)
            if name in models and "ctranslate2-int8" in backends:
                convert(name, paths[name], "int8", mode)
            _say(f"  built {name} in {time.perf_counter() - began:.1f} s")
        report["build_seconds"] = round(time.perf_counter() - started, 1)
        for name in models:
            report["models"][name] = measure(name, paths[name], backends, mode, args, threads)
        if args.explore:
            report["explore"] = {
                name: measure(name, paths[name], [BASELINE, *EXPLORE], mode, args, threads)
                for name in EXPLORE_MODELS
            }
        if run_e2e:
            report["end_to_end"] = end_to_end(paths, mode, args, threads)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report["load_average_after"] = load_average()
    report["seconds"] = round(time.perf_counter() - started, 1)
    # Rounds actually run (a budget may stop a model's rounds early): the fewest of any model.
    measured = [m.get("rounds") for m in report.get("models", {}).values() if m.get("rounds")]
    report["rounds"] = min(measured) if measured else mode.rounds
    report["targets"] = targets(report)
    report["noise"] = noise(report)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    failed = [
        f"{model} {label}"
        for model, entry in report["models"].items()
        for label, result in entry["backends"].items()
        if "error" in result
    ]
    if "error" in report.get("end_to_end", {}).get(BASELINE, {}):
        failed.append("end to end")
    if failed:
        print(f"briefing-digest: bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def measure(
    name: str,
    path: Path,
    backends: list[str],
    mode: Mode,
    args: argparse.Namespace,
    threads: int,
) -> dict[str, Any]:
    """Every backend of one model loaded in its own worker, measured in interleaved rounds."""
    from bench import interleaved

    values, meta = load_config(name, mode.shrink)
    task = meta["task"]
    inputs = workload(task, mode, values)
    tokens = mode.translation_tokens if task == "translation" else mode.summary_tokens
    # The product's batch sizes ([translation] 16, [summarisation] 4); tiny ones for --smoke.
    batch = 2 if mode.shrink else 16 if task == "translation" else 4
    entry: dict[str, Any] = {
        "task": task,
        "hub_id": meta.get("hub_id"),
        "inputs": len(inputs),
        "input_tokens": sum(len(i) for i in inputs),
        "output_tokens": tokens,
        "batch_size": batch,
        "backends": {},
    }
    starters: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for label in backends:
        spec = parse_backend(label)
        spec.update(
            inputs=inputs,
            tokens=tokens,
            beams=1 if "greedy" in spec["options"] else args.beams,
            batch_size=batch,
            threads=threads,
            no_repeat_ngram_size=3,  # the product's default
            forced_bos_token_id=meta.get("forced_bos_token_id"),
        )
        if spec["worker"] == "ctranslate2":
            spec["inter_threads"], spec["intra_threads"] = ct2_threads(threads, spec["options"])
            try:
                spec["ct2_dir"] = str(convert(name, path, spec["compute_type"], mode))
            except Exception as exc:  # report it in the table, measure the rest
                errors[label] = f"conversion failed: {exc}"
                continue
            entry.setdefault("ct2_threads", {})[label] = (
                f"{spec['inter_threads']}x{spec['intra_threads']}"
            )
        else:
            spec["model_dir"] = str(path)
        starters[label] = partial(interleaved.Worker, Path(__file__).resolve(), spec, _env())

    def said(label: str, result: dict[str, Any]) -> None:
        rate = result["tokens"] / result["seconds"]
        others = result.get("others_share")
        _say(
            f"  {name:26} {label:30} {rate:8.1f} tokens/s, peak {result['peak_rss_mb']:.0f} MB"
            + (f", others used {others:.0%} of the CPU" if others is not None else "")
        )

    wait_for_idle(args.wait_idle)
    series = interleaved.interleave(
        starters, mode.rounds, said, min_rounds=mode.min_rounds, budget_s=mode.round_budget_s
    )
    results = interleaved.summary(series, BASELINE)
    entry["rounds"] = max((len(s.runs) for s in series.values()), default=0)
    for label in backends:
        entry["backends"][label] = {"error": errors[label]} if label in errors else results[label]
    return entry


def ct2_threads(threads: int, options: list[str]) -> tuple[int, int]:
    """The product's thread layout for ``threads`` cores ([models] defaults), or for
    ``+intra`` one batch at a time on every core."""
    from models.runtimes.ct2_backend import thread_counts
    from settings.schema import ModelsSettings

    if "intra" in options:
        return 1, threads
    return thread_counts(ModelsSettings(), cores=threads)


def cpu_idle(interval: float = 1.0) -> float:
    """Share of the CPU no process used over ``interval`` seconds (1.0 where unknown)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 1.0
    return (idle1 - idle0) / max(1, total1 - total0)


def wait_for_idle(limit: float, wanted: float = 0.85) -> float | None:
    """Wait up to ``limit`` seconds for the CPU to be at least ``wanted`` idle: on a shared
    2-core machine one busy neighbour halves a measurement. Returns the idle share seen."""
    if limit <= 0:
        return None
    deadline = time.monotonic() + limit
    idle = cpu_idle()
    while idle < wanted and time.monotonic() < deadline:
        idle = cpu_idle(2.0)
    return round(idle, 2)


def end_to_end(
    paths: dict[str, Path], mode: Mode, args: argparse.Namespace, threads: int
) -> dict[str, Any]:
    document = next(
        (folder / DOCUMENT for folder in SAMPLE_DIRS[::-1] if (folder / DOCUMENT).is_file()),
        ROOT / "samples" / "en_briefing.txt",
    )
    common = {
        "worker": "pipeline",
        "document": str(document),
        "languages": ["en", "hi", "ru"],
        "direction_models": {
            "en-hi": str(paths[E2E_MODELS["en-hi"]]),
            "en-ru": str(paths[E2E_MODELS["en-ru"]]),
        },
        "summariser": str(paths[E2E_MODELS["summariser"]]),
        "beams": args.beams,
        "threads": threads,
        "ct2_threads": ct2_threads(threads, []),
        "translation_tokens": mode.e2e_translation_tokens,
        "summary_tokens": mode.e2e_summary_tokens,
    }
    results: dict[str, Any] = {
        "document": document.name,
        "translation_tokens": mode.e2e_translation_tokens,
        "summary_tokens": mode.e2e_summary_tokens,
    }
    specs = {}
    for label, backend, compute_type in (
        (BASELINE, "transformers", None),
        ("ctranslate2-int8", "ctranslate2", "int8"),
    ):
        spec = dict(common, backend=backend)
        if compute_type:
            spec["compute_type"] = compute_type
            for key in ("en-hi", "en-ru", "summariser"):
                convert(E2E_MODELS[key], paths[E2E_MODELS[key]], compute_type, mode)
        specs[label] = spec
    for _ in range(mode.rounds):
        for label, spec in specs.items():
            idle = wait_for_idle(args.wait_idle)
            result = run_worker(spec)
            result["cpu_idle_before"] = idle
            _say(f"  end to end {label:22} {_brief(result)}")
            old = results.get(label)
            if (
                old is None
                or "error" in old
                or ("error" not in result and result["digest_s"] < old["digest_s"])
            ):
                results[label] = result
    base, fast = results[BASELINE], results["ctranslate2-int8"]
    if "error" not in base and "error" not in fast and fast["digest_s"]:
        fast["speedup"] = round(base["digest_s"] / fast["digest_s"], 2)
        fast["memory_ratio"] = round(base["peak_rss_mb"] / fast["peak_rss_mb"], 2)
    return results


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, as measured in this run (median ratios against transformers fp32,
    each from interleaved pairs of runs)."""
    out: dict[str, Any] = {}
    for name, entry in report["models"].items():
        fast = entry["backends"].get("ctranslate2-int8", {})
        if "speedup" not in fast:
            continue
        want = 4.0 if entry["task"] == "translation" else 2.5
        out[f"{name} tokens/s"] = {
            "want": f">= {want:g}x transformers fp32",
            "got": f"{fast['speedup']:.2f}x",
            "met": fast["speedup"] >= want,
        }
        out[f"{name} peak memory"] = {
            "want": ">= 3x less",
            "got": f"{fast['memory_ratio']:.2f}x less",
            "met": fast["memory_ratio"] >= 3,
        }
    e2e = report.get("end_to_end", {}).get("ctranslate2-int8", {})
    if "digest_s" in e2e:
        out["end to end en+hi+ru"] = {
            "want": "<= 10 s after loading",
            "got": f"{e2e['digest_s']:.1f} s",
            "met": e2e["digest_s"] <= 10,
        }
    return out


def noise(report: dict[str, Any]) -> dict[str, Any]:
    """How noisy this run was (:func:`bench.interleaved.noise_verdict`), with the load."""
    from bench import interleaved

    shares = []
    worst = []
    ratios = []
    for entry in report["models"].values():
        for result in entry["backends"].values():
            shares.append(result.get("others_share"))
            worst.append(result.get("others_share_max"))
            if result.get("speedup_runs") and len(result["speedup_runs"]) > 1:
                ratios.append(result["speedup_runs"])
    verdict = interleaved.noise_verdict(shares, ratios, worst)
    verdict["load_average"] = [report["load_average_before"], report["load_average_after"]]
    return verdict


# -- output -------------------------------------------------------------------------------
def print_report(report: dict[str, Any]) -> None:
    info = report["machine"]
    print(
        f"\nseq2seq generation, {report['date'][:10]}, {info['cpu']}, {info['cores']} cores, "
        f"{report['threads']} threads; beams {report['beams']}, fixed output length; "
        f"load average {report['load_average_before']} -> {report['load_average_after']}"
    )
    print(
        f"torch {info.get('torch')}, transformers {info.get('transformers')}, "
        f"ctranslate2 {info.get('ctranslate2')}\n"
    )
    _print_models(report["models"])
    if "explore" in report:
        print("\nother CPU options (same workloads):\n")
        _print_models(report["explore"])
    e2e = report.get("end_to_end")
    if e2e:
        print(
            f"\nend to end: {e2e['document']} in en+hi+ru, opus-mt-size translation "
            f"({e2e['translation_tokens']} tokens a sentence) and distilbart-size "
            f"summarisation ({e2e['summary_tokens']} tokens a topic)\n"
        )
        rows = [["BACKEND", "FIRST DIGEST S", "DIGEST S", "SPEEDUP", "PEAK RSS MB", "BULLETS"]]
        for label in (BASELINE, "ctranslate2-int8"):
            result = e2e.get(label, {})
            if "error" in result:
                rows.append([label, "error: " + result["error"], "", "", "", ""])
                continue
            rows.append(
                [
                    label,
                    f"{result['first_digest_s']:.1f}",
                    f"{result['digest_s']:.1f}",
                    f"{result.get('speedup', 1.0):.2f}x",
                    f"{result['peak_rss_mb']:.0f}",
                    "/".join(str(n) for n in result["bullets"].values()),
                ]
            )
        _print_table(rows)
    n = report["noise"]
    others = n["others_share_median"]
    print(
        f"\nnoise: {n['verdict']}: other processes used "
        + (f"{others:.0%} (up to {n['others_share_max']:.0%})" if others is not None else "?")
        + f" of the CPU during the timed runs; ratios of the rounds spread by "
        f"{n['ratio_spread']:.0%}; load average {n['load_average'][0]} -> "
        f"{n['load_average'][1]} on {info['cores']} cores"
    )
    if n["verdict"] != "quiet":
        print("  (figures from a busy machine: ratios are fairer than absolute tokens/s)")
    if report["targets"]:
        print(
            f"\ntargets (ctranslate2-int8 against transformers-fp32, medians of {report['rounds']} "
            "interleaved rounds)"
            + (":" if n["verdict"] == "quiet" else ", NOT CONCLUSIVE on a machine this busy:")
        )
        for name, target in report["targets"].items():
            print(
                f"  {'PASS' if target['met'] else 'MISS'}  {name}: {target['got']} "
                f"(want {target['want']})"
            )
    print(f"\n({report['seconds']:.0f} s in all, {report['build_seconds']:.0f} s of it building)")


def _print_models(models: dict[str, Any]) -> None:
    rows = [
        ["MODEL", "TASK", "BACKEND", "TOKENS/S", "SPEEDUP", "PEAK RSS MB", "LESS MEMORY", "LOAD S"]
    ]
    for name, entry in models.items():
        for k, (label, result) in enumerate(entry["backends"].items()):
            first = [name, entry["task"]] if k == 0 else ["", ""]
            if "error" in result:
                rows.append([*first, label, "error: " + result["error"][:60], "", "", "", ""])
                continue
            rows.append(
                [
                    *first,
                    label,
                    f"{result['tokens_per_s']:.1f}",
                    f"{result.get('speedup', 0):.2f}x",
                    f"{result['peak_rss_mb']:.0f}",
                    f"{result.get('memory_ratio', 0):.2f}x",
                    f"{result['load_s']:.1f}",
                ]
            )
    _print_table(rows)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            c.rjust(w) if c[:1].isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        print("  ".join(cells).rstrip())


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return "error: " + result["error"]
    if "tokens_per_s" in result:
        return f"{result['tokens_per_s']:.1f} tokens/s, peak {result['peak_rss_mb']:.0f} MB"
    return f"{result['digest_s']:.1f} s a digest, peak {result['peak_rss_mb']:.0f} MB"


def _quiet() -> None:
    """No progress bars or advice from transformers while models are built and converted."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*sacremoses.*")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        sys.path.insert(0, str(ROOT))
        return worker_main(argv[1])
    if argv[:1] == ["--serve"]:
        sys.path.insert(0, str(ROOT))
        return serve_main(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.path.insert(0, str(ROOT))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
