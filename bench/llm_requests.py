"""Seed-sized digests through the product's ONNX Runtime LLM (a benchmark, not a test).

    python bench/llm_requests.py [--config bench/configs/qwen2.5-1.5b-instruct.json]
                                 [--system 300] [--user 520] [--answer 435] [--requests 3]
                                 [--work DIR]

Builds the real shape with random weights and its int4 build as ``bench/llm_runtime.py`` does,
loads it with ``models.runtimes.ort_causal.load`` and times ``OrtCausalLM.generate``, the call
the llm engine makes, for a few requests that share the system turn (as digests in one
language do) and differ in the user turn: the first reads the whole prompt, the later ones
rewind to the system turn read once. Random weights do not stop early, so each answer is the
length asked for (``--answer``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "configs/qwen2.5-1.5b-instruct.json")
    parser.add_argument("--system", type=int, default=300, help="system turn tokens")
    parser.add_argument("--user", type=int, default=520, help="user turn tokens")
    parser.add_argument("--answer", type=int, default=435, help="answer tokens")
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--work", type=Path, help="build the model here and keep it")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    import torch
    from transformers import GenerationConfig

    from bench.llm_runtime import build, build_onnx, config_values, prompt_ids
    from models.runtimes import ort_causal
    from settings import load_settings

    work = args.work or Path(tempfile.mkdtemp(prefix="briefing-llm-bench-"))
    path = build(args.config, work)
    built = build_onnx(path)
    model = ort_causal.load(str(path), path, built, load_settings(environ={}).models)
    values = config_values(args.config)
    end, vocab = int(values["eos_token_id"]), int(values["vocab_size"])
    system = [*prompt_ids(args.system, vocab), end]  # a turn ends with the end-of-turn token
    config = GenerationConfig(max_new_tokens=args.answer, do_sample=False, eos_token_id=[end])
    for request in range(1, args.requests + 1):
        ids = torch.tensor([system + prompt_ids(args.user, vocab, seed=request)])
        started = time.perf_counter()
        out = model.generate(ids, config)
        seconds = time.perf_counter() - started
        print(
            f"request {request}: {ids.shape[1]} prompt + {out.shape[1] - ids.shape[1]} answer "
            f"tokens in {seconds:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
