"""``briefing-digest``: the command line. Sub-commands live in their own modules."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from cli import (
    batch_cmd,
    bench_cmd,
    bot_cmd,
    digest_cmd,
    eval_cmd,
    models_cmd,
    watch_cmd,
    worker_cmd,
)
from cli.errors import CliError
from digest.errors import DigestError
from models.base import ModelUnavailableError
from settings import SettingsError

_COMMANDS = [
    digest_cmd,
    batch_cmd,
    watch_cmd,
    bot_cmd,
    worker_cmd,
    models_cmd,
    eval_cmd,
    bench_cmd,
]
# The errors a user can act on: their message is the whole report. Anything else is a bug
# and keeps its traceback.
USER_ERRORS = (SettingsError, DigestError, ModelUnavailableError, CliError)
# 128 + SIGPIPE, what a shell reports for a writer whose reader went away.
_EXIT_BROKEN_PIPE = 141


def package_version() -> str:
    try:
        return version("briefing-digest")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Sub-commands accept them too ("digest --config FILE"); SUPPRESS there keeps a value
    # given before the sub-command when it is not repeated after it.
    default_config = None if top else argparse.SUPPRESS
    default_verbose = 0 if top else argparse.SUPPRESS
    parser.add_argument(
        "--config",
        default=default_config,
        help="override file on top of the bundled config.toml",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default_verbose,
        help="more logging (-vv: debug)",
    )


def _sub_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command's parser, nested ones ("models list") included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += [sub, *_sub_parsers(sub)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefing-digest",
        description="Topic digests of press-briefing transcripts in English, Hindi and Russian.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.register(commands)
    for sub in _sub_parsers(parser):
        _add_global_options(sub, top=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as exc:
        print(f"briefing-digest: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (``| head``) has gone: nothing more can be shown, and that is fine.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
