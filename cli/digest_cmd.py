"""``briefing-digest digest FILE``: one digest to stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.options import add_digest_options, settings_from
from digest.ingest import read_path, read_stdin
from digest.pipeline import Pipeline
from digest.render import render


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("digest", help="print the digest of one transcript")
    parser.add_argument("file", help="transcript file, or - for standard input")
    parser.add_argument(
        "--format", choices=["md", "json", "html", "txt"], default="md", help="output format"
    )
    add_digest_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    max_bytes = settings.ingest.max_bytes
    if args.file == "-":
        doc = read_stdin(sys.stdin.buffer, max_bytes)
    else:
        doc = read_path(Path(args.file), max_bytes)
    pipeline = Pipeline(settings)
    digests = pipeline.run(doc, args.lang, args.engine)
    texts = [render(d, args.format, pipeline.resources) for d in digests.values()]
    if args.format == "json" and len(texts) > 1:
        sys.stdout.write("[\n" + ",\n".join(t.rstrip() for t in texts) + "\n]\n")
    else:
        sys.stdout.write("\n".join(texts))
    return 0
