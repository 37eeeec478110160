"""Arguments several sub-commands share."""

from __future__ import annotations

import argparse

from models.extras import Extra, require
from settings import SUPPORTED_LANGUAGES, Settings, load_settings

ENGINES = ("extractive", "neural", "auto", "llm", "semantic")


def language_list(value: str) -> list[str]:
    langs = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in langs if v not in SUPPORTED_LANGUAGES]
    if bad or not langs:
        named = ", ".join(bad) if bad else repr(value)
        raise argparse.ArgumentTypeError(f"unsupported language: {named} (choose from en, hi, ru)")
    return langs


def add_digest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang",
        type=language_list,
        help="output languages, comma separated: en,hi,ru (default: [output] languages)",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, help="summary engine (default: [summary] engine)"
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def check_engine(engine: str | None) -> None:
    """An engine asked for by name whose Python packages are missing: one line naming the
    extra to install (a configured engine falls back instead, with a notice)."""
    if engine in ("neural", "llm"):
        require(Extra(engine), f"--engine {engine}")
