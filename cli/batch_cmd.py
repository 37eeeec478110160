"""``briefing-digest batch INPUT... --out DIR``: one output per input, language and format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli.options import add_digest_options, check_engine, settings_from

if TYPE_CHECKING:
    from digest.batch import BatchReport

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


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {number})")
    return number


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def renamed_outputs(report: BatchReport) -> list[str]:
    """One line per input whose outputs carry a hash because another input has its name."""
    lines = []
    for result in report.results:
        if result.outputs:
            stem = result.outputs[0].name.split(".", 1)[0]
            if stem != result.path.stem:
                lines.append(f"{result.path} -> {stem}.*")
    return lines


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("batch", help="digest files, folders and globs into a folder")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders or globs")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--format", type=_formats, help="comma separated: md,json,html,txt")
    parser.add_argument(
        "--jobs",
        type=_positive,
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

    check_engine(args.engine)
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
    renamed = renamed_outputs(report)
    if renamed:
        print("inputs with the same name, written as:", file=sys.stderr)
        for line in renamed:
            print(f"  {line}", file=sys.stderr)
    summary = (
        f"{_plural(len(report.results), 'file', 'files')}: {report.count('done')} digested, "
        f"{report.count('skipped')} unchanged (skipped), {report.count('failed')} failed"
    )
    print(summary, file=sys.stderr)
    return 1 if report.failed else 0
