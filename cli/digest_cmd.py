"""``briefing-digest digest FILE``: one digest to stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.options import add_digest_options, check_engine, settings_from
from digest.ingest import read_path, read_stdin
from digest.pipeline import Pipeline
from digest.render import render_languages


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("digest", help="print the digest of one transcript")
    parser.add_argument("file", help="transcript file, or - for standard input")
    parser.add_argument(
        "--format",
        choices=["md", "json", "html", "txt"],
        default="md",
        help="output format; json is one envelope with a digest per language "
        "(docs/digests.schema.json)",
    )
    add_digest_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    check_engine(args.engine)
    settings = settings_from(args)
    limits = settings.ingest
    if args.file == "-":
        doc = read_stdin(sys.stdin.buffer, limits)
    else:
        doc = read_path(Path(args.file), limits)
    pipeline = Pipeline(settings)
    digests = pipeline.run(doc, args.lang, args.engine)
    sys.stdout.write(render_languages(list(digests.values()), args.format, pipeline.resources))
    return 0
