"""Prompt-processing and generation speed of the llm engine's model on this CPU (a benchmark,
not a test).

    python bench/llm_speed.py [--quick] [--threads 2] [--dtype float32 bfloat16]
                              [--config bench/configs/qwen2.5-1.5b-instruct.json]

Builds the real-size architecture from ``--config`` (the model's ``config.json`` values) with
random weights: speed depends on shapes, not on what the weights are, so no download is
needed. Reports, per dtype:

- prompt processing (prefill) tokens/s at each ``--prompt-tokens`` length, one forward pass
  with the KV cache on, logits for the last position only (as ``generate`` does);
- generation (decode) tokens/s: greedy, one token per step with the KV cache, after a prompt
  of ``--gen-prompt`` tokens, timed between steps (prefill excluded);
- what one digest costs: ``--digest-prompt`` prompt tokens + ``--digest-answer`` answer
  tokens at those rates.

Torch threads default to 2 (the target server); the process is pinned to that many cores.
Peak RSS is reported: fp32 weights of the 1.5B model are ~6.2 GB, bf16 ~3.1 GB. The
1-minute load average before each measurement is printed too: on a 2-core machine another
busy process halves the figures (``--wait-idle SECONDS`` waits for the load to drop).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, StoppingCriteria

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "configs" / "qwen2.5-1.5b-instruct.json"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class StepTimer(StoppingCriteria):
    """Records when each generation step finishes; never stops generation."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: Any = None, **kwargs: Any) -> Any:
        self.times.append(time.perf_counter())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)


def build(config_path: Path, dtype: torch.dtype) -> tuple[Qwen2ForCausalLM, float]:
    values = json.loads(config_path.read_text(encoding="utf-8"))
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    values.pop("architectures", None)
    values.pop("model_type", None)
    values.pop("torch_dtype", None)
    config = Qwen2Config(**values)
    started = time.perf_counter()
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: no second copy in memory
    try:
        model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    return model, time.perf_counter() - started


def prompt_ids(length: int, vocab: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(length)
    # Ordinary token ids (not the special tokens at the end of the vocabulary).
    return torch.randint(0, min(vocab, 150_000), (1, length), generator=generator)


@torch.inference_mode()
def prefill_rate(model: Qwen2ForCausalLM, length: int, repeats: int) -> float:
    ids = prompt_ids(length, model.config.vocab_size)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        model(input_ids=ids, use_cache=True, logits_to_keep=1)
        best = min(best, time.perf_counter() - started)
    return length / best


@torch.inference_mode()
def decode_rate(model: Qwen2ForCausalLM, prompt: int, new_tokens: int) -> float:
    ids = prompt_ids(prompt, model.config.vocab_size)
    timer = StepTimer()
    model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        stopping_criteria=[timer],
        pad_token_id=0,
    )
    # The first step includes prefill. The median step after it: robust to a stray process.
    steps = sorted(b - a for a, b in zip(timer.times, timer.times[1:], strict=False))
    return 1.0 / steps[len(steps) // 2]


def wait_for_idle(limit_s: float, threshold: float = 0.5) -> float:
    """Wait (up to ``limit_s``) for the 1-minute load average to fall below ``threshold``:
    other processes on a 2-core machine halve the figures. Returns the load seen."""
    deadline = time.monotonic() + limit_s
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def peak_rss_gb() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=DTYPES)
    parser.add_argument("--prompt-tokens", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--gen-prompt", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--digest-prompt", type=int, default=2000)
    parser.add_argument("--digest-answer", type=int, default=600)
    parser.add_argument("--quick", action="store_true", help="short prompts, few tokens, 1 repeat")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each measurement wait up to this long for the load average to drop",
    )
    args = parser.parse_args()
    if args.quick:
        args.prompt_tokens, args.gen_prompt, args.new_tokens, args.repeats = [256, 1024], 256, 24, 1

    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))[: args.threads]
        os.sched_setaffinity(0, set(cores))
    torch.set_num_threads(args.threads)
    print(
        f"{args.config.name}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs visible",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    for name in args.dtype:
        model, build_s = build(args.config, DTYPES[name])
        params = sum(p.numel() for p in model.parameters())
        with torch.inference_mode():
            model(input_ids=prompt_ids(16, model.config.vocab_size), logits_to_keep=1)  # warm-up
        row: dict[str, Any] = {
            "dtype": name,
            "params_m": round(params / 1e6, 1),
            "build_s": round(build_s, 1),
            "prefill_tok_s": {},
        }
        print(f"\n{name}: {params / 1e9:.2f} B parameters, built in {build_s:.1f} s", flush=True)
        loads = []
        for length in args.prompt_tokens:
            loads.append(wait_for_idle(args.wait_idle) if args.wait_idle else os.getloadavg()[0])
            rate = prefill_rate(model, length, args.repeats)
            row["prefill_tok_s"][length] = round(rate, 1)
            print(
                f"  prompt processing, {length:5d} tokens: {rate:8.1f} tokens/s"
                f"   (load before: {loads[-1]:.2f})",
                flush=True,
            )
        loads.append(wait_for_idle(args.wait_idle) if args.wait_idle else os.getloadavg()[0])
        rate = decode_rate(model, args.gen_prompt, args.new_tokens)
        row["decode_tok_s"] = round(rate, 2)
        print(
            f"  generation after {args.gen_prompt} prompt tokens ({args.new_tokens} new): "
            f"{rate:8.2f} tokens/s   (load before: {loads[-1]:.2f})",
            flush=True,
        )
        row["load_before"] = [round(x, 2) for x in loads]
        # The digest estimate uses the prefill rate measured nearest the digest prompt size.
        nearest = min(row["prefill_tok_s"], key=lambda n: abs(n - args.digest_prompt))
        seconds = args.digest_prompt / row["prefill_tok_s"][nearest] + args.digest_answer / rate
        row["digest_estimate_s"] = round(seconds, 1)
        row["peak_rss_gb"] = round(peak_rss_gb(), 2)
        print(
            f"  one digest ({args.digest_prompt} prompt + {args.digest_answer} answer tokens): "
            f"~{seconds:.0f} s; peak RSS so far {row['peak_rss_gb']} GB",
            flush=True,
        )
        results.append(row)
        del model
        gc.collect()
    if args.json:
        args.json.write_text(
            json.dumps(
                {"config": args.config.name, "threads": args.threads, "results": results}, indent=2
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
