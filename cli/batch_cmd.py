"""``briefing-digest batch INPUT... --out DIR``: one output per input, language and format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.options import add_digest_options, settings_from

_FORMATS = ("md", "json", "html", "txt")


def _formats(value: str) -> list[str]:
    formats = [v.strip() for v in value.split(",") if v.strip()]
    bad = [f for f in formats if f not in _FORMATS]
    if bad or not formats:
        named = ", ".join(bad) if bad else repr(value)
        raise argparse.ArgumentTypeError(
            f"unknown format: {named} (choose from {', '.join(_FORMATS)})"
        )
    return formats


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        jobs = 0
    if not 1 <= jobs <= 64:
        raise argparse.ArgumentTypeError(
            f"--jobs must be a whole number from 1 to 64, not {value!r}"
        )
    return jobs


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("batch", help="digest files, folders and globs into a folder")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--format", type=_formats, help="comma separated: md,json,html,txt")
    parser.add_argument(
        "--jobs",
        type=_jobs,
        help="worker processes, files digested at once (default: [batch] jobs)",
    )
    parser.add_argument("--force", action="store_true", help="redo inputs whose digests are cached")
    add_digest_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: `briefing-digest digest` should not pay for the batch machinery. The
    # digests are made in worker processes ([workers] limits), which die with this one.
    from tqdm import tqdm

    from digest.batch import BatchOptions, FileResult, FileStatus, expand_inputs
    from workers.batch import run_batch

    settings = settings_from(args)
    paths = expand_inputs(args.inputs)
    options = BatchOptions(
        out_dir=args.out,
        languages=tuple(args.lang or settings.output.languages),
        formats=tuple(args.format or settings.output.formats),
        engine=args.engine,
        jobs=args.jobs or settings.batch.jobs,
        force=args.force,
    )
    with tqdm(total=len(paths), unit="file", disable=None, file=sys.stderr) as bar:

        def show(result: FileResult) -> None:
            if result.status is FileStatus.FAILED:
                tqdm.write(f"FAILED {result.error}", file=sys.stderr)
            bar.update(1)

        report = run_batch(paths, settings, options, show)
    summary = (
        f"{len(report.results)} files: {report.count('done')} digested, "
        f"{report.count('skipped')} unchanged (skipped), {report.count('failed')} failed"
    )
    print(summary, file=sys.stderr)
    return 1 if report.failed else 0
