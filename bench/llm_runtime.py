"""The chat LLM on this CPU: transformers (bf16, the engine's choice on CPUs with AVX512-BF16
or AMX) against the CTranslate2 int8 conversion and the ONNX Runtime GenAI int4 build (a
benchmark, not a test).

    python bench/llm_runtime.py [--config bench/configs/qwen2.5-0.5b-instruct.json]
                                [--rounds 3] [--prompt 1024] [--new 48]
                                [--digest-prompt 2000 --digest-answer 600] [--work DIR]

The real architecture is built from ``--config`` with random weights (speed depends on shapes,
not on the weights), saved in bf16, converted to int8 and built in int4 with the product's
converters (``briefing-digest models convert`` does the same; a synthetic vocabulary stands in
for the tokenizer). Each backend runs in its own process, loaded once; the timed rounds
alternate between them (``A B C A B C ...``) and the medians are reported, with the ratio of
each quantised runtime to transformers in the same round: a busy neighbour on a shared
machine slows a round, not the comparison.

Per backend: prompt processing tokens/s (``--prompt`` tokens, time to the first new token),
generation tokens/s (median step after the first, ``--new`` tokens), peak RSS, and one digest
(``--digest-prompt`` prompt + ``--digest-answer`` answer tokens) estimated from those rates.
``--e2e`` also times one real digest-sized generation on each quantised runtime.

Generation of one sequence reads every weight once per token, so memory bandwidth bounds it:
bytes of weights read per token / measured read bandwidth (``torch`` sum over a 1 GiB buffer on
the same threads) is the ceiling printed beside each rate.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CONFIG = HERE / "configs" / "qwen2.5-0.5b-instruct.json"
BUILDER_VERSION = 1


# -- building ---------------------------------------------------------------------------------
def config_values(config_path: Path) -> dict[str, Any]:
    raw = json.loads(config_path.read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def build(config_path: Path, work: Path) -> Path:
    """The bf16 model directory with its int8 conversion (``ct2-int8``), built once."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    values = config_values(config_path)
    path = work / config_path.stem
    stamp = json.dumps({"builder": BUILDER_VERSION, **values}, sort_keys=True)
    marker = path / "bench-config.json"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return path
    path.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.for_model(**{k: v for k, v in values.items() if k != "architectures"})
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    # One random block copied round (memcpy speed): random-number speed would take minutes.
    block = torch.empty(1 << 22).uniform_(-0.04, 0.04, generator=generator).to(torch.bfloat16)
    with torch.no_grad():
        for index, (name, param) in enumerate(model.named_parameters()):
            if param.dim() == 1:
                param.fill_(1.0 if "norm" in name else 0.0)
                continue
            flat = param.view(-1)
            start = (index * 7919) % block.numel()
            source = torch.cat([block[start:], block[:start]])
            for offset in range(0, flat.numel(), source.numel()):
                piece = flat[offset : offset + source.numel()]
                piece.copy_(source[: piece.numel()])
    model.tie_weights()
    model.save_pretrained(path)
    del model
    convert(path)
    marker.write_text(stamp, encoding="utf-8")
    return path


def build_onnx(path: Path) -> Path:
    """The int4 ONNX build beside the model (``ort-int4``), made once."""
    from models.runtimes import ort_causal

    out = path / "ort-int4"
    if not ort_causal.is_converted(out):
        ort_causal.convert(path, out, "int4")
    return out


class SyntheticVocabulary:
    """Stands in for the tokenizer when converting: token i is ``t<i>``; the ids the config
    names are the special tokens."""

    def __init__(self, vocab_size: int, bos: int, eos: int) -> None:
        self.tokens = [f"t{i}" for i in range(vocab_size)]
        self.tokens[bos], self.tokens[eos] = "<|endoftext|>", "<|im_end|>"
        self.bos_token, self.eos_token, self.pad_token = "<|endoftext|>", "<|im_end|>", None
        self.unk_token = None

    def get_vocab(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}


def convert(path: Path) -> Path:
    from transformers import AutoConfig

    from models.runtimes.ct2_backend import converter_class

    config = AutoConfig.from_pretrained(path)

    class Synthetic(converter_class()):  # type: ignore[misc]
        def load_tokenizer(self, tokenizer_class: Any, model_path: str, **kwargs: Any) -> Any:
            return SyntheticVocabulary(config.vocab_size, config.bos_token_id, config.eos_token_id)

    out = path / "ct2-int8"
    Synthetic(str(path)).convert(str(out), quantization="int8", force=True)
    return out


# -- measuring (in worker processes) -----------------------------------------------------------
def prompt_ids(length: int, vocab: int, seed: int = 0) -> list[int]:
    import random

    rng = random.Random(seed + length)
    return [rng.randrange(10, min(vocab, 150_000)) for _ in range(length)]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class TransformersWorker:
    def __init__(self, spec: dict[str, Any]) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(spec["threads"])
        dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[spec["dtype"]]
        started = time.perf_counter()
        self.model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=dtype).eval()
        self.load_s = time.perf_counter() - started
        self.vocab = self.model.config.vocab_size
        self.measure(16, 4)  # warm-up: first-call allocations are not speed

    def measure(self, prompt: int, new: int) -> dict[str, float]:
        import torch
        from transformers import StoppingCriteria

        times: list[float] = []

        class Steps(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
                times.append(time.perf_counter())
                return torch.zeros(input_ids.shape[0], dtype=torch.bool)

        ids = torch.tensor([prompt_ids(prompt, self.vocab)])
        started = time.perf_counter()
        with torch.inference_mode():
            self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=new,
                min_new_tokens=new,
                do_sample=False,
                stopping_criteria=[Steps()],
                pad_token_id=0,
            )
        return _rates(started, times, prompt)


class CTranslate2Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        import ctranslate2

        started = time.perf_counter()
        self.generator = ctranslate2.Generator(
            spec["ct2_dir"],
            device="cpu",
            compute_type="int8",
            inter_threads=1,
            intra_threads=spec["threads"],
        )
        self.load_s = time.perf_counter() - started
        vocabulary = json.loads((Path(spec["ct2_dir"]) / "vocabulary.json").read_text("utf-8"))
        self.tokens = vocabulary
        self.vocab = len(vocabulary)
        self.measure(16, 4)

    def measure(self, prompt: int, new: int) -> dict[str, float]:
        tokens = [self.tokens[i] for i in prompt_ids(prompt, self.vocab)]
        times: list[float] = []
        started = time.perf_counter()
        for _ in self.generator.generate_tokens(
            tokens, max_length=new, min_length=new, sampling_topk=1, end_token=[]
        ):
            times.append(time.perf_counter())
        return _rates(started, times, prompt)


class OnnxWorker:
    def __init__(self, spec: dict[str, Any]) -> None:
        import onnxruntime_genai as og
        from transformers import GenerationConfig

        from models.runtimes import ort_causal

        started = time.perf_counter()
        config = og.Config(spec["ort_dir"])
        config.clear_providers()
        # The product's threads; no end tokens (random weights must write the whole answer).
        config.overlay(json.dumps(ort_causal.overlay(GenerationConfig(), spec["threads"])))
        self.og = og
        self.tokens = ort_causal.tokens
        self.model = og.Model(config)
        self.load_s = time.perf_counter() - started
        self.vocab = int(spec["vocab_size"])
        self.measure(16, 4)

    def measure(self, prompt: int, new: int) -> dict[str, float]:
        params = self.og.GeneratorParams(self.model)
        # No end token: random weights must not end the answer early (min_length).
        params.set_search_options(max_length=prompt + new, min_length=prompt + new)
        generator = self.og.Generator(self.model, params)
        times: list[float] = []
        started = time.perf_counter()
        generator.append_tokens(prompt_ids(prompt, self.vocab))
        for _ in self.tokens(generator):
            times.append(time.perf_counter())
        return _rates(started, times, prompt)


def _rates(started: float, times: list[float], prompt: int) -> dict[str, float]:
    """Prompt tokens/s (to the first new token) and the median generation step's rate."""
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    return {
        "prefill_tok_s": prompt / (times[0] - started),
        "decode_tok_s": 1.0 / steps[len(steps) // 2],
        "seconds": times[-1] - started,
        "new_tokens": len(times),
    }


def serve(spec_path: str) -> int:
    """A worker: load, then answer one JSON request per stdin line until stdin closes."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    sys.path.insert(0, str(ROOT))
    kinds = {
        "transformers": TransformersWorker,
        "ctranslate2": CTranslate2Worker,
        "onnxruntime": OnnxWorker,
    }
    worker: Any = kinds[spec["runtime"]](spec)
    print(json.dumps({"ready": True, "load_s": worker.load_s}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        cpu0 = os.times()
        result = worker.measure(request["prompt"], request["new"])
        cpu1 = os.times()
        result["cpu_s"] = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result), flush=True)
    return 0


class Worker:
    """A loaded worker process, asked for measurements one at a time."""

    def __init__(self, spec: dict[str, Any]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(spec, handle)
        self.spec_file = handle.name
        env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", handle.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.spec_file} exited {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def measure(self, prompt: int, new: int) -> dict[str, Any]:
        """One measurement, with the CPU share other processes used meanwhile."""
        from bench.interleaved import cpu_jiffies

        assert self.process.stdin is not None
        before = cpu_jiffies()
        self.process.stdin.write(json.dumps({"prompt": prompt, "new": new}) + "\n")
        self.process.stdin.flush()
        result = self._read()
        after = cpu_jiffies()
        if before and after and after[1] > before[1]:
            ticks = os.sysconf("SC_CLK_TCK")
            wall = (after[1] - before[1]) / ticks  # all cores' time
            others = max(0.0, (after[0] - before[0]) / ticks - result["cpu_s"])
            result["others_share"] = round(min(1.0, others / wall), 3)
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        os.unlink(self.spec_file)


# -- the machine ------------------------------------------------------------------------------
def read_bandwidth_gb_s(threads: int, gib: float = 1.0, repeats: int = 10) -> float:
    """Best read bandwidth of a sum over a buffer far larger than the caches."""
    import torch

    torch.set_num_threads(threads)
    buffer = torch.ones(int(gib * (1 << 30)) // 4, dtype=torch.float32)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        buffer.sum()
        best = min(best, time.perf_counter() - started)
    size = buffer.numel() * 4
    del buffer
    return size / best / 1e9


def gemm_gop_s(threads: int, size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Best matrix-product rate (10^9 multiply-adds x 2 a second) on ``threads`` threads:
    float32 and bfloat16 (torch, oneDNN/AMX where the CPU has it) and int8 (``torch._int_mm``,
    a proxy for CTranslate2's MKL int8 products)."""
    import torch

    torch.set_num_threads(threads)
    rates: dict[str, float] = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("int8", None)):
        if dtype is None:
            a = torch.randint(-100, 100, (size, size), dtype=torch.int8)
            b = torch.randint(-100, 100, (size, size), dtype=torch.int8)

            def product(a: Any = a, b: Any = b) -> Any:
                return torch._int_mm(a, b)
        else:
            a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)

            def product(a: Any = a, b: Any = b) -> Any:
                return a @ b

        try:
            product()
        except RuntimeError:  # no int8 product in this torch build
            continue
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            product()
            best = min(best, time.perf_counter() - started)
        rates[name] = 2 * size**3 / best / 1e9
    return rates


def prefill_flops_per_token(values: dict[str, Any], prompt: int) -> float:
    """Floating-point operations to read one prompt token: two per weight of every layer
    (the output layer runs once, for the last token only) and the causal attention over on
    average half the prompt."""
    layers_weights = (
        weight_bytes_per_token(values, 1.0) - values["vocab_size"] * values["hidden_size"]
    )
    attention = 4 * values["hidden_size"] * (prompt / 2) * values["num_hidden_layers"]
    return 2 * layers_weights + attention


def weight_bytes_per_token(values: dict[str, Any], bytes_per_weight: float) -> float:
    """Weights one generation step reads: every layer and the output projection (the input
    embedding is a lookup of one row)."""
    h, inter, layers = (
        values["hidden_size"],
        values["intermediate_size"],
        values["num_hidden_layers"],
    )
    heads, kv = values["num_attention_heads"], values["num_key_value_heads"]
    head_dim = h // heads
    attention = h * h * 2 + h * kv * head_dim * 2  # q, o; k, v
    mlp = 3 * h * inter
    return (layers * (attention + mlp) + values["vocab_size"] * h) * bytes_per_weight


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# -- the run ----------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    values = config_values(args.config)
    work = args.work or Path(tempfile.mkdtemp(prefix="briefing-llm-bench-"))
    started = time.perf_counter()
    path = build(args.config, work)
    ort_dir = build_onnx(path)
    _say(f"{args.config.stem}: built and converted in {time.perf_counter() - started:.0f} s")
    bandwidth = read_bandwidth_gb_s(args.threads)
    gemm = gemm_gop_s(args.threads)
    report: dict[str, Any] = {
        "config": args.config.stem,
        "threads": args.threads,
        "read_bandwidth_gb_s": round(bandwidth, 1),
        "gemm_gop_s": {k: round(v, 1) for k, v in gemm.items()},
        "load_average_before": load_average(),
        "prompt": args.prompt,
        "new": args.new,
        "rounds": [],
    }
    specs = {
        f"transformers-{args.dtype}": {
            "runtime": "transformers",
            "dtype": args.dtype,
            "model_dir": str(path),
            "threads": args.threads,
        },
        "ctranslate2-int8": {
            "runtime": "ctranslate2",
            "ct2_dir": str(path / "ct2-int8"),
            "threads": args.threads,
        },
        "onnxruntime-int4": {
            "runtime": "onnxruntime",
            "ort_dir": str(ort_dir),
            "vocab_size": values["vocab_size"],
            "threads": args.threads,
        },
    }
    workers = {label: Worker(spec) for label, spec in specs.items()}
    try:
        for round_ in range(args.rounds):
            row = {}
            for label, worker in workers.items():
                row[label] = worker.measure(args.prompt, args.new)
                _say(
                    f"  round {round_ + 1} {label:22} prefill {row[label]['prefill_tok_s']:7.1f}"
                    f" tokens/s, generation {row[label]['decode_tok_s']:6.2f} tokens/s"
                    f" (others used {row[label].get('others_share', 0):.0%} of the CPU, "
                    f"load {load_average()})"
                )
            report["rounds"].append(row)
        if args.e2e:
            report["e2e"] = {
                label: worker.measure(args.digest_prompt, args.digest_answer)
                for label, worker in workers.items()
                if label in QUANTISED
            }
    finally:
        for worker in workers.values():
            worker.close()
    report["load_average_after"] = load_average()
    report["summary"] = summarise(report, values, args)
    return report


# The quantised runtimes: bytes a weight takes (int4 in blocks of 128 with a float scale each)
# and the matrix products they compute with (int4 weights meet int8 activations).
QUANTISED = {"ctranslate2-int8": (1.0, "int8"), "onnxruntime-int4": (0.5 + 4 / 128, "int8")}


def summarise(report: dict[str, Any], values: dict[str, Any], args: argparse.Namespace) -> Any:
    labels = list(report["rounds"][0])
    base = labels[0]
    out: dict[str, Any] = {}
    weight_bytes = {base: 2.0 if args.dtype == "bfloat16" else 4.0}
    gemm_kind = {base: args.dtype}
    for label, (per_weight, kind) in QUANTISED.items():
        weight_bytes[label], gemm_kind[label] = per_weight, kind
    flops = prefill_flops_per_token(values, args.prompt)
    for label in labels:
        prefill = statistics.median(r[label]["prefill_tok_s"] for r in report["rounds"])
        decode = statistics.median(r[label]["decode_tok_s"] for r in report["rounds"])
        per_token = weight_bytes_per_token(values, weight_bytes[label])
        out[label] = {
            "prefill_tok_s": round(prefill, 1),
            "decode_tok_s": round(decode, 2),
            "peak_rss_mb": round(max(r[label]["peak_rss_mb"] for r in report["rounds"])),
            "digest_estimate_s": round(
                args.digest_prompt / prefill + args.digest_answer / decode, 1
            ),
            "weights_gb_per_token": round(per_token / 1e9, 2),
            "bandwidth_bound_tok_s": round(report["read_bandwidth_gb_s"] * 1e9 / per_token, 2),
            # Prompt reading is matrix products: bounded by the measured product rate.
            "prefill_gflop_per_token": round(flops / 1e9, 2),
            "prefill_achieved_gop_s": round(prefill * flops / 1e9, 1),
            "prefill_compute_bound_tok_s": round(
                report["gemm_gop_s"].get(gemm_kind[label], 0.0) * 1e9 / flops, 1
            ),
        }
    ratios: dict[str, Any] = {}
    for fast in labels[1:]:
        decode = [r[fast]["decode_tok_s"] / r[base]["decode_tok_s"] for r in report["rounds"]]
        prefill = [r[fast]["prefill_tok_s"] / r[base]["prefill_tok_s"] for r in report["rounds"]]
        ratios[fast] = {
            "decode_median": round(statistics.median(decode), 2),
            "decode_spread": [round(min(decode), 2), round(max(decode), 2)],
            "prefill_median": round(statistics.median(prefill), 2),
        }
    out["ratios"] = ratios
    shares = [r[k].get("others_share", 0.0) for r in report["rounds"] for k in labels]
    out["others_share_median"] = round(statistics.median(shares), 3)
    e2e_out: dict[str, Any] = {}
    for label, e2e in report.get("e2e", {}).items():
        seconds = round(e2e["seconds"], 1)
        prefill_s = round(args.digest_prompt / e2e["prefill_tok_s"], 1)
        e2e_out[label] = {
            "seconds": seconds,
            "prefill_s": prefill_s,
            "decode_s": round(seconds - prefill_s, 1),
            "cpu_s": round(e2e["cpu_s"], 1),
            "others_share": e2e.get("others_share"),
        }
    out["e2e"] = e2e_out
    return out


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    s = report["summary"]
    print(
        f"\n{report['config']}, {report['threads']} threads, {args.rounds} interleaved rounds "
        f"(medians), prompt {report['prompt']} tokens, {report['new']} new; load average "
        f"{report['load_average_before']} -> {report['load_average_after']}; read bandwidth "
        f"{report['read_bandwidth_gb_s']} GB/s\n"
    )
    header = (
        f"{'BACKEND':22} {'PREFILL TOK/S':>13} {'GEN TOK/S':>9} {'BOUND TOK/S':>11} "
        f"{'GB/TOKEN':>8} {'PEAK RSS MB':>11} {'DIGEST S (EST.)':>15}"
    )
    print(header)
    for label, row in s.items():
        if not isinstance(row, dict) or label in ("ratios", "e2e"):
            continue
        print(
            f"{label:22} {row['prefill_tok_s']:13.1f} {row['decode_tok_s']:9.2f} "
            f"{row['bandwidth_bound_tok_s']:11.2f} {row['weights_gb_per_token']:8.2f} "
            f"{row['peak_rss_mb']:11.0f} {row['digest_estimate_s']:15.1f}"
        )
    print(f"\ndigest = {args.digest_prompt} prompt + {args.digest_answer} answer tokens")
    for label, ratio in s["ratios"].items():
        print(
            f"{label} against the baseline (same rounds): generation median "
            f"{ratio['decode_median']}x, spread {ratio['decode_spread'][0]}-"
            f"{ratio['decode_spread'][1]}x; prompt processing {ratio['prefill_median']}x"
        )
    print(
        f"noise: other processes used {s['others_share_median']:.0%} of the CPU (median of the "
        "timed runs); on a busy machine torch's threads wait on each other at every operation, "
        "so transformers' generation suffers far more than the quantised runtimes'"
    )
    print(
        f"matrix products on {report['threads']} threads (GOP/s): "
        + ", ".join(f"{k} {v}" for k, v in report["gemm_gop_s"].items())
    )
    for label, row in s.items():
        if isinstance(row, dict) and label not in ("ratios", "e2e"):
            print(
                f"  {label}: prompt reading {row['prefill_gflop_per_token']} GFLOP a token, "
                f"achieved {row['prefill_achieved_gop_s']} GOP/s; compute bound "
                f"{row['prefill_compute_bound_tok_s']} tokens/s; generation bound by bandwidth "
                f"{row['bandwidth_bound_tok_s']} tokens/s, achieved {row['decode_tok_s']}"
            )
    for label, e2e in s["e2e"].items():
        print(
            f"one digest-sized generation on {label} ({args.digest_prompt} prompt + "
            f"{args.digest_answer} answer tokens), measured: {e2e['seconds']} s "
            f"(prompt {e2e['prefill_s']} s, answer {e2e['decode_s']} s; {e2e['cpu_s']} CPU-s; "
            f"others used {e2e['others_share'] or 0:.0%} of the CPU)"
        )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt", type=int, default=1024)
    parser.add_argument("--new", type=int, default=48)
    parser.add_argument("--digest-prompt", type=int, default=2000)
    parser.add_argument("--digest-answer", type=int, default=600)
    parser.add_argument(
        "--e2e", action="store_true", help="time one digest on each quantised runtime"
    )
    parser.add_argument("--work", type=Path, help="build the model here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    report = run(args)
    print_report(report, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
