"""``briefing-digest bench``: seq2seq generation speed, transformers against CTranslate2.

The harness is :mod:`bench.seq2seq_speed` (it builds multi-gigabyte models and is for the
people running the service). Its arguments are its own; this module only hands over.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from cli.errors import CliError


def _harness() -> ModuleType | None:
    """The harness module, or None where it is not installed."""
    try:
        from bench import seq2seq_speed
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", "bench.seq2seq_speed"):
            raise
        return None
    return seq2seq_speed


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "bench",
        help="generation speed and memory: transformers fp32 against CTranslate2",
        description="Builds the real model architectures with random weights and measures "
        "tokens/s, peak memory and a three-language digest per backend (docs/performance.md).",
    )
    harness = _harness()
    if harness is not None:
        # Importing the harness is cheap (standard library only): models load in its workers.
        harness.add_arguments(parser)
    parser.set_defaults(handler=lambda args: run(args, harness))


def run(args: argparse.Namespace, harness: ModuleType | None) -> int:
    if harness is None:
        raise CliError("the benchmark harness (bench/) is not installed: run it from a checkout")
    return int(harness.run(args))
