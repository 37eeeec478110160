"""``briefing-digest``: the command line. Sub-commands live in their own modules."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from cli import batch_cmd, bench_cmd, bot_cmd, digest_cmd, eval_cmd, models_cmd
from digest.errors import DigestError
from settings import SettingsError

_COMMANDS = [digest_cmd, batch_cmd, bot_cmd, models_cmd, eval_cmd, bench_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="briefing-digest",
        description="Topic digests of press-briefing transcripts in English, Hindi and Russian.",
    )
    parser.add_argument("--config", help="override file on top of the bundled config.toml")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (SettingsError, DigestError, ValueError) as exc:
        print(f"briefing-digest: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
