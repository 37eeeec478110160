"""``briefing-digest models list|download|verify|convert``: the neural engines' models.

- ``list``: every configured model, whether it is present, its size and licence;
- ``download [NAME...]``: fetch models (default: the configured ones) into the Hugging Face
  cache, ``[models] cache_dir``, or ``--dir DIR`` (as ``DIR/owner--name``), with progress;
- ``verify [NAME...]``: load each through the product's loading path and run one short
  generation; exits 1 naming every model that fails;
- ``convert [NAME...]``: convert models (default: the configured ones that are present) for
  the CTranslate2 backend (``[models] backend``), int8 unless ``--quantization`` says otherwise;
  chat LLMs for ONNX Runtime int4 where onnxruntime-genai is installed (``--runtime``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cli.errors import CliError
from cli.options import settings_from
from models.base import error_line
from settings.schema import Settings

# Licences of the models the documentation names; others are read from their model card.
KNOWN_LICENCES = {
    "Helsinki-NLP/opus-mt-*": "CC-BY-4.0",
    "facebook/m2m100*": "MIT",
    "facebook/nllb-200*": "CC-BY-NC-4.0",
    "csebuetnlp/mT5_multilingual_XLSum": "CC-BY-NC-SA-4.0",
    "sshleifer/distilbart-cnn-*": "Apache-2.0",
    "facebook/bart-large-cnn": "MIT",
    "Qwen/Qwen2.5-0.5B-Instruct": "Apache-2.0",
    "Qwen/Qwen2.5-1.5B-Instruct": "Apache-2.0",
    "Qwen/Qwen2.5-7B-Instruct": "Apache-2.0",
}
# Seconds the one connectivity check before a download may take.
HUB_CHECK_TIMEOUT_S = 5.0
_NON_COMMERCIAL = ("-NC", "NON-COMMERCIAL")
# Weights in other frameworks, never read here.
_IGNORE = [
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "onnx/*",
    "tf_model*",
    "flax_model*",
    "rust_model*",
    "*.tflite",
    "coreml/*",
    "openvino/*",
]
VERIFY_TEXT = {
    "en": "The ministers discussed trade, energy and the transport corridor.",
    "hi": "मंत्रियों ने व्यापार, ऊर्जा और परिवहन गलियारे पर चर्चा की।",
    "ru": "Министры обсудили торговлю, энергетику и транспортный коридор.",
}
VERIFY_SUMMARY_TEXT = (
    "The foreign ministers of India and Russia met in Moscow on Tuesday. They discussed "
    "trade, energy and the International North-South Transport Corridor. Both sides agreed "
    "to expand bilateral trade and to prepare the annual summit later this year."
)


class Runtime(StrEnum):
    """How a model runs: seq2seq ones are verified here, the LLM is not; both convert."""

    SEQ2SEQ = "seq2seq"
    LLM = "llm"


@dataclass(frozen=True, slots=True)
class Configured:
    role: str
    name: str
    # Source and target language for a translation model, else None.
    direction: tuple[str, str] | None = None
    runtime: Runtime = Runtime.SEQ2SEQ


def configured_models(settings: Settings) -> list[Configured]:
    models: list[Configured] = []
    translation = settings.translation
    if translation.kind == "per_direction":
        for pair, name in translation.direction_models.items():
            src, _, tgt = pair.partition("-")
            models.append(Configured(f"translation {pair}", name, (src, tgt)))
    elif translation.kind == "multilingual":
        models.append(
            Configured("translation (all directions)", translation.multilingual_model, ("en", "ru"))
        )
    summarisation = settings.summarisation
    models.append(Configured(f"summarisation ({summarisation.kind})", summarisation.model))
    models.append(Configured("llm engine", settings.llm.model, runtime=Runtime.LLM))
    if settings.llm.light_model and settings.llm.light_model != settings.llm.model:
        models.append(
            Configured("llm engine (light)", settings.llm.light_model, runtime=Runtime.LLM)
        )
    return models


def seq2seq_models(settings: Settings) -> list[Configured]:
    return [m for m in configured_models(settings) if m.runtime is Runtime.SEQ2SEQ]


def in_catalogue(name: str, settings: Settings) -> bool:
    """Configured, or one of the models the documentation names (docs/models.md, docs/llm.md)."""
    if any(m.name == name for m in configured_models(settings)):
        return True
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in KNOWN_LICENCES)


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


def hub_unreachable(endpoint: str) -> str | None:
    """Why the hub cannot be reached (one quick request, proxies honoured), or None."""
    import httpx

    try:
        httpx.head(endpoint, timeout=HUB_CHECK_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        return error_line(exc)
    return None


def licence(name: str, path: Path | None) -> str:
    for pattern, value in KNOWN_LICENCES.items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    if path is not None and (path / "README.md").is_file():
        text = (path / "README.md").read_text(encoding="utf-8", errors="replace")
        if text.startswith("---"):
            for line in text.split("---", 2)[1].splitlines():
                if line.strip().lower().startswith("license:"):
                    return line.split(":", 1)[1].strip().upper() or "unknown"
    return "unknown"


def non_commercial(licence_name: str) -> bool:
    return any(mark in licence_name.upper() for mark in _NON_COMMERCIAL)


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("models", help="list, download and verify the neural models")
    actions = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="configured models: present or not, size, licence")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=run_list)
    download = actions.add_parser("download", help="fetch models (default: the configured ones)")
    download.add_argument(
        "names", nargs="*", metavar="NAME", help="hub ids, e.g. facebook/m2m100_418M"
    )
    download.add_argument(
        "--dir", type=Path, help="download into DIR/owner--name instead of the Hugging Face cache"
    )
    download.add_argument(
        "--any",
        action="store_true",
        help="allow hub ids that are neither configured nor named in docs/models.md",
    )
    download.set_defaults(handler=run_download)
    verify = actions.add_parser("verify", help="load each model and run one short generation")
    verify.add_argument(
        "names", nargs="*", metavar="NAME", help="models (default: the configured ones)"
    )
    verify.set_defaults(handler=run_verify)
    convert = actions.add_parser(
        "convert", help="convert models for the fast CTranslate2 backend (int8 by default)"
    )
    convert.add_argument(
        "names", nargs="*", metavar="NAME", help="models (default: the configured ones)"
    )
    convert.add_argument(
        "--quantization",
        choices=["int8", "int8_float32", "float32"],
        help="weights' type (default: [models] ct2_compute_type, int8)",
    )
    convert.add_argument(
        "--out",
        type=Path,
        help="write DIR/owner--name/ct2-TYPE (found with [models] ct2_dir = DIR) instead of "
        "[models] ct2_dir or the model's own directory",
    )
    convert.add_argument(
        "--runtime",
        choices=["auto", "onnxruntime", "ctranslate2"],
        help="for chat LLMs: ONNX Runtime int4 (auto when onnxruntime-genai is installed) or "
        "CTranslate2 (default: [llm] runtime); translation and summarisation models always "
        "convert for CTranslate2",
    )
    convert.add_argument("--force", action="store_true", help="replace existing conversions")
    convert.set_defaults(handler=run_convert)


def run_list(args: argparse.Namespace) -> int:
    from models.base import ModelUnavailableError
    from models.runtimes.hf_loading import resolve_model

    settings = settings_from(args)
    rows = []
    for item in configured_models(settings):
        try:
            path: Path | None = resolve_model(item.name, settings.models.cache_dir)
        except ModelUnavailableError:
            path = None
        lic = licence(item.name, path)
        rows.append(
            {
                "role": item.role,
                "model": item.name,
                "present": path is not None,
                "size": directory_size(path) if path else None,
                "licence": lic,
                "non_commercial": non_commercial(lic),
                "path": str(path) if path else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    table = [["ROLE", "MODEL", "STATUS", "SIZE", "LICENCE"]]
    for row in rows:
        lic = row["licence"] + (" (non-commercial)" if row["non_commercial"] else "")
        table.append(
            [
                row["role"],
                row["model"],
                "present" if row["present"] else "missing",
                human_size(row["size"]) if row["size"] is not None else "-",
                lic,
            ]
        )
    _print_table(table)
    missing = [r["model"] for r in rows if not r["present"]]
    if missing:
        print(f"\nfetch the missing ones with: briefing-digest models download {' '.join(missing)}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from models.extras import Extra, require
    from models.runtimes.hf_loading import hub_offline, is_local_name, local_dir_name

    settings = settings_from(args)
    # The chat LLM converts as the seq2seq models do (models/runtimes/ct2_causal.py).
    names = list(dict.fromkeys(args.names or [m.name for m in configured_models(settings)]))
    unknown = [n for n in names if not is_local_name(n) and not in_catalogue(n, settings)]
    if unknown and not args.any:
        raise CliError(
            f"not in the catalogue: {', '.join(unknown)} (configured models and those in "
            "docs/models.md); check the spelling, or pass --any to download it anyway"
        )
    if hub_offline():
        print(
            "briefing-digest: error: HF_HUB_OFFLINE is set, so nothing can be downloaded; unset "
            "it, or download on a connected machine and copy the models (see docs/models.md)",
            file=sys.stderr,
        )
        return 2
    remote = [n for n in names if not is_local_name(n)]
    if remote:
        require(Extra.NEURAL, "models download")
        endpoint = hub_endpoint()
        reason = hub_unreachable(endpoint)
        if reason is not None:
            folder = args.dir or settings.models.cache_dir
            where = (
                f"{folder}/{local_dir_name(remote[0])}"
                if folder
                else f"DIR/{local_dir_name(remote[0])} and set [models] cache_dir = DIR"
            )
            raise CliError(
                f"cannot reach the model hub ({endpoint}: {reason}); set HF_ENDPOINT or copy "
                f"the model directory to {where}"
            )
    from huggingface_hub import HfApi, snapshot_download

    failed = []
    for name in names:
        if is_local_name(name):
            print(f"{name}: a local directory, nothing to download")
            continue
        target = args.dir / local_dir_name(name) if args.dir else None
        where = str(target) if target else (settings.models.cache_dir or "the Hugging Face cache")
        print(f"{name}: downloading into {where}", file=sys.stderr)
        try:
            files = HfApi().list_repo_files(name)
            ignore = list(_IGNORE)
            if any(f.endswith(".safetensors") for f in files):
                ignore.append("*.bin")  # the same weights twice: keep safetensors
            path = snapshot_download(
                name,
                cache_dir=settings.models.cache_dir or None,
                local_dir=target,
                ignore_patterns=ignore,
            )
        except Exception as exc:  # network, authentication, missing repository: say which
            reason = error_line(exc)
            print(f"{name}: download failed: {reason}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: {human_size(directory_size(Path(path)))} in {path}")
    if args.dir and len(failed) < len(names):
        print(
            f'\nmodels in {args.dir} are found with [models] cache_dir = "{args.dir}" '
            "(or name their directories in config.toml)"
        )
    if failed:
        print(
            f"briefing-digest: {len(failed)} download(s) failed: {', '.join(failed)}",
            file=sys.stderr,
        )
        return 1
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from models.extras import Extra, require

    require(Extra.NEURAL, "models verify")
    from models.engines.translation import language_codes
    from models.runtimes.ct2_backend import make_runner
    from models.runtimes.hf_loading import ModelCache
    from settings.schema import GenerationSettings

    settings = settings_from(args)
    configured = configured_models(settings)
    if args.names:
        known = {c.name: c for c in configured}
        items = [known.get(n, Configured("named", n)) for n in dict.fromkeys(args.names)]
    else:
        items = list({c.name: c for c in configured}.values())
    for item in [i for i in items if i.runtime is Runtime.LLM]:
        print(f"skip {item.name} [{item.role}]: try it with: digest FILE --engine llm")
    items = [i for i in items if i.runtime is Runtime.SEQ2SEQ]
    cache = ModelCache(settings.models)
    generation = GenerationSettings(num_beams=1, max_new_tokens=24, min_new_tokens=0)
    failures = 0
    for item in items:
        started = time.perf_counter()
        try:
            loaded = cache.get(item.name)
            runner = make_runner(loaded, generation, batch_size=1)
            source_code = forced = None
            text = VERIFY_SUMMARY_TEXT
            if loaded.family in ("m2m_100", "nllb"):
                source, target = item.direction or ("en", "ru")
                source_code, forced = language_codes(loaded.tokenizer, source, target, item.name)
                text = VERIFY_TEXT[source]
            elif item.direction:
                text = VERIFY_TEXT[item.direction[0]]
            loaded_at = time.perf_counter()
            chunk = runner.chunks([text])[0].text
            output = runner.generate([chunk], source_code=source_code, forced_bos_token_id=forced)[
                0
            ]
        except Exception as exc:  # whatever breaks, name the model and go on to the next
            failures += 1
            print(f"FAIL {item.name} [{item.role}]: {exc}")
            continue
        finally:
            cache.clear()
        done = time.perf_counter()
        print(
            f"OK   {item.name} [{item.role}] {loaded.family}, "
            f"{human_size(loaded.size_bytes)} on {loaded.device} with {loaded.backend}, "
            f"window {runner.window} tokens, "
            f"load {loaded_at - started:.1f} s, generate {done - loaded_at:.1f} s: "
            f"{output[:80]!r}"
        )
        if loaded.family == "marian" and not _has_sacremoses():
            print("     hint: pip install sacremoses (opus-mt normalises punctuation with it)")
    if failures:
        print(
            f"briefing-digest: {failures} of {len(items)} model(s) failed verification",
            file=sys.stderr,
        )
        return 1
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from models.extras import Extra, require

    require(Extra.NEURAL, "models convert")
    from transformers.utils import logging as hf_logging

    from models.base import ModelUnavailableError
    from models.runtimes import ort_causal
    from models.runtimes.ct2_backend import ConversionError, convert, converted_dir
    from models.runtimes.hf_loading import resolve_model

    settings = settings_from(args)
    quantization = args.quantization or settings.models.ct2_compute_type
    layout = settings.models
    if args.out:
        layout = layout.model_copy(update={"ct2_dir": str(args.out)})
    # The chat LLM converts as the seq2seq models do (models/runtimes/ct2_causal.py).
    names = list(dict.fromkeys(args.names or [m.name for m in configured_models(settings)]))
    failed: list[str] = []
    ct2_written = False
    for name in names:
        try:
            path = resolve_model(name, settings.models.cache_dir)
        except ModelUnavailableError as exc:
            if args.names:  # asked for by name: not being there is a failure
                print(f"briefing-digest: cannot convert {name}: {exc}", file=sys.stderr)
                failed.append(name)
            else:
                print(f"{name}: not downloaded, skipped")
            continue
        llm_runtime = _llm_conversion(name, path, settings, args.runtime)
        if llm_runtime == "onnxruntime":
            precision = settings.llm.onnx_precision
            out = ort_causal.converted_dir(name, path, layout, precision)
            kind = f"onnxruntime {precision}"
        else:
            out = converted_dir(name, path, layout, quantization)
            kind = quantization
        started = time.perf_counter()
        try:
            # Loading the weights for conversion would draw a progress bar per model.
            hf_logging.disable_progress_bar()
            if llm_runtime == "onnxruntime":
                ort_causal.convert(path, out, precision, force=args.force)
            else:
                convert(path, out, quantization, force=args.force)
        except FileExistsError:
            print(f"{name}: already converted in {out} (--force converts again)")
            continue
        except ConversionError as exc:
            chosen = llm_runtime == "onnxruntime" and args.runtime != "onnxruntime"
            other = " (or convert it with --runtime ctranslate2)" if chosen else ""
            print(f"briefing-digest: {exc}{other}", file=sys.stderr)
            failed.append(name)
            continue
        if llm_runtime != "onnxruntime":
            ct2_written = True
        size = human_size(directory_size(out))
        print(f"{name}: {kind}, {size} in {out} ({time.perf_counter() - started:.1f} s)")
    if args.out and len(failed) < len(names):
        print(f'\nconverted models in {args.out} are found with [models] ct2_dir = "{args.out}"')
    if quantization != settings.models.ct2_compute_type and ct2_written:
        print(
            f"the pipeline runs ct2-{settings.models.ct2_compute_type} conversions: set "
            f'[models] ct2_compute_type = "{quantization}" to run these'
        )
    if failed:
        print(
            f"briefing-digest: {len(failed)} conversion(s) failed: {', '.join(failed)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _llm_conversion(name: str, path: Path, settings: Settings, asked: str | None) -> str | None:
    """The runtime a chat LLM is converted for (None: not a chat LLM, CTranslate2's seq2seq
    conversion): ``--runtime``, else ``[llm] runtime``; auto is ONNX Runtime int4 where
    onnxruntime-genai is installed (it writes ~2x as fast as CTranslate2 int8 on a CPU)."""
    if not _is_causal_lm(path):
        return None
    wanted = asked or settings.llm.runtime
    if wanted in ("onnxruntime", "ctranslate2"):
        return wanted
    from models.runtimes import ort_causal

    return "onnxruntime" if ort_causal.installed() else "ctranslate2"


def _is_causal_lm(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    architectures = config.get("architectures") or []
    return not config.get("is_encoder_decoder") and any(
        str(a).endswith("ForCausalLM") for a in architectures
    )


def _has_sacremoses() -> bool:
    try:
        import sacremoses  # noqa: F401
    except ImportError:
        return False
    return True


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
