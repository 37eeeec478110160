"""``briefing-digest bench``: seq2seq generation speed, transformers against CTranslate2.

The harness is ``bench/seq2seq_speed.py`` in the source tree (it is not part of the installed
package: it builds multi-gigabyte models and is for the people running the service). Its
arguments are its own; this module only finds it and hands over.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from cli.errors import CliError

HARNESS = Path(__file__).resolve().parent.parent / "bench" / "seq2seq_speed.py"


_MODULE = "briefing_bench_seq2seq"
log = logging.getLogger(__name__)


def _harness() -> ModuleType | None:
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    if not HARNESS.is_file():
        return None
    spec = importlib.util.spec_from_file_location(_MODULE, HARNESS)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up while the file executes.
    sys.modules[_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except Exception:  # a broken harness must not take the other commands down with it
        del sys.modules[_MODULE]
        log.exception("could not load the benchmark harness %s", HARNESS)
        return None
    return module


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
        raise CliError(
            f"the benchmark harness {HARNESS} is not here: run the bench from a source checkout"
        )
    return int(harness.run(args))
