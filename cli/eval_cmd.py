"""``briefing-digest eval --refs DIR``: ROUGE, chrF and BLEU against reference files.

References are named ``ID.LANG.txt`` (or ``.md``), LANG one of en, hi, ru. What is scored:

- ``--hyps DIR``: ready-made outputs with the same file names (any system's digests or
  translations);
- ``--sources DIR``: transcripts ``ID.EXT`` (or ``ID.LANG.EXT``) are digested with the
  configured engine (``--engine`` to choose) in every language that has a reference; the
  digest's headline and bullets, one per line, are scored;
- ``--translate``: the references are parallel texts; each language's file is translated
  into every other language present with the configured translator, line by line.

One table per language: a row per document (or per direction) and an "all" row (ROUGE is
the mean over documents; chrF and BLEU are corpus scores).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from cli.errors import CliError
from cli.options import ENGINES, check_engine, settings_from
from settings.schema import SUPPORTED_LANGUAGES, Settings

_REFERENCE = re.compile(r"^(?P<id>.+)\.(?P<lang>en|hi|ru)\.(?:txt|md)$")
_COLUMNS = ("n", "rouge1", "rouge2", "rougeL", "chrF", "BLEU")


@dataclass(frozen=True, slots=True)
class Pair:
    language: str
    item: str  # document id, or "hi->en" style direction
    hypothesis: str
    reference: str


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="score digests or translations against references")
    parser.add_argument("--refs", type=Path, help="references named ID.LANG.txt")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--quality",
        type=Path,
        metavar="DIR",
        help="annotated transcripts NAME.LANG.txt + NAME.LANG.toml (eval/README.md): "
        "defects, topics, names, key facts",
    )
    mode.add_argument("--hyps", type=Path, help="outputs named like the references")
    mode.add_argument("--sources", type=Path, help="transcripts ID.EXT to digest and score")
    mode.add_argument(
        "--translate", action="store_true", help="translate parallel references into each other"
    )
    parser.add_argument("--engine", choices=ENGINES, help="summary engine for --sources")
    parser.add_argument(
        "--json", type=Path, help="also write the scores to this JSON file ('-': print only JSON)"
    )
    parser.add_argument(
        "--examples", action="store_true", help="with --quality: list every defect found"
    )
    parser.set_defaults(handler=run)


def references(folder: Path) -> dict[tuple[str, str], Path]:
    """(id, language) -> reference file."""
    if not folder.is_dir():
        raise CliError(f"{folder}: not a directory")
    found = {}
    for path in sorted(folder.iterdir()):
        match = _REFERENCE.match(path.name)
        if match and path.is_file():
            found[(match.group("id"), match.group("lang"))] = path
    if not found:
        raise CliError(f"{folder}: no reference files named ID.LANG.txt (LANG: en, hi, ru)")
    return found


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def pairs_from_hypotheses(refs: dict[tuple[str, str], Path], folder: Path) -> list[Pair]:
    pairs = []
    for (doc, lang), path in refs.items():
        hyp = folder / path.name
        if not hyp.is_file():
            print(f"eval: no output {hyp} for reference {path.name}", file=sys.stderr)
            continue
        pairs.append(Pair(lang, doc, _read(hyp), _read(path)))
    return pairs


def pairs_from_sources(
    refs: dict[tuple[str, str], Path], folder: Path, args: argparse.Namespace
) -> list[Pair]:
    from digest.ingest import SUPPORTED_EXTENSIONS, read_path
    from digest.pipeline import Pipeline

    check_engine(args.engine)
    settings = settings_from(args)
    pipeline = Pipeline(settings)
    wanted: dict[str, list[str]] = defaultdict(list)
    for doc, lang in refs:
        wanted[doc].append(lang)
    pairs = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS or not path.is_file():
            continue
        doc = path.stem
        if doc not in wanted and path.stem.rpartition(".")[2] in SUPPORTED_LANGUAGES:
            doc = path.stem.rpartition(".")[0]
        if doc not in wanted:
            continue
        document = read_path(path, settings.ingest)
        digests = pipeline.run(document, wanted.pop(doc), args.engine)
        for lang, digest in digests.items():
            lines = [digest.headline] + [b.text for t in digest.topics for b in t.bullets]
            pairs.append(Pair(lang, doc, "\n".join(lines), _read(refs[(doc, lang)])))
    for doc in wanted:
        print(f"eval: no transcript for {doc} in {folder}", file=sys.stderr)
    return pairs


def pairs_from_translation(
    refs: dict[tuple[str, str], Path], args: argparse.Namespace
) -> list[Pair]:
    from digest.resources import ResourceError, load_resources
    from models.engines.translation import build_translator
    from models.runtimes.hf_loading import shared_cache
    from models.text.glossary import Glossary

    settings = settings_from(args)
    try:
        glossary = Glossary(load_resources(settings.paths.prompts_dir).glossary)
    except ResourceError:
        glossary = Glossary()
    translator = build_translator(
        settings.translation, settings.models, shared_cache(settings.models), glossary
    )
    by_doc: dict[str, dict[str, Path]] = defaultdict(dict)
    for (doc, lang), path in refs.items():
        by_doc[doc][lang] = path
    pairs = []
    for files in by_doc.values():
        for source, source_path in files.items():
            text = _read(source_path)
            for target, target_path in files.items():
                if target == source:
                    continue
                if not translator.supports(source, target):
                    print(
                        f"eval: no {source}->{target} translation model; skipped", file=sys.stderr
                    )
                    continue
                out = translator.translate([text], source, target)[0]
                pairs.append(Pair(target, f"{source}->{target}", out, _read(target_path)))
    return pairs


def language_mismatches(pairs: list[Pair], settings: Settings) -> list[str]:
    """A warning per output written in another language than its reference: ROUGE and BLEU
    compare words, so such a pair scores about 0 whatever its quality."""
    from models.text.language import detect

    warnings = []
    for pair in pairs:
        found = detect(pair.hypothesis, settings.language).language
        if found and found != pair.language:
            warnings.append(
                f"eval: warning: {pair.item} ({pair.language} reference): the output is in "
                f"{found}, so ROUGE and BLEU score about 0; score outputs written in "
                f"{pair.language}"
            )
    return warnings


def tables(pairs: list[Pair]) -> dict[str, dict[str, dict[str, float]]]:
    """language -> row (item, or "all") -> metric -> value."""
    from models.text.metrics import score

    result: dict[str, dict[str, dict[str, float]]] = {}
    for lang in SUPPORTED_LANGUAGES:
        mine = [p for p in pairs if p.language == lang]
        if not mine:
            continue
        rows: dict[str, dict[str, float]] = {}
        items = list(dict.fromkeys(p.item for p in mine))
        for item in items:
            group = [p for p in mine if p.item == item]
            rows[item] = score(
                [p.hypothesis for p in group], [p.reference for p in group], lang
            ).as_dict()
        rows["all"] = score(
            [p.hypothesis for p in mine], [p.reference for p in mine], lang
        ).as_dict()
        result[lang] = rows
    return result


def print_tables(result: dict[str, dict[str, dict[str, float]]]) -> None:
    from models.text.metrics import bleu_tokenizer

    for lang, rows in result.items():
        print(f"\n== {lang} (BLEU tokenize={bleu_tokenizer(lang)}) ==")
        header = ["item", *_COLUMNS]
        body = [[item] + [_cell(values[c]) for c in _COLUMNS] for item, values in rows.items()]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        for row in [header, *body]:
            cells = [row[0].ljust(widths[0])] + [
                c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
            ]
            print("  ".join(cells))


def _cell(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def run(args: argparse.Namespace) -> int:
    if args.quality:
        return run_quality(args)
    if args.refs is None:
        raise ValueError("--refs DIR is needed with --hyps, --sources and --translate")
    refs = references(args.refs)
    if args.hyps:
        pairs = pairs_from_hypotheses(refs, args.hyps)
    elif args.sources:
        pairs = pairs_from_sources(refs, args.sources, args)
    else:
        from models.base import ModelUnavailableError

        try:
            pairs = pairs_from_translation(refs, args)
        except ModelUnavailableError as exc:
            print(f"briefing-digest: error: {exc}", file=sys.stderr)
            return 2
    if not pairs:
        print("briefing-digest: error: nothing to score", file=sys.stderr)
        return 2
    for line in language_mismatches(pairs, settings_from(args)):
        print(line, file=sys.stderr)
    result = tables(pairs)
    print_tables(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


def run_quality(args: argparse.Namespace) -> int:
    """``eval --quality DIR``: the table of digest quality on an annotated set."""
    from digest.pipeline import Pipeline
    from digest.quality import evaluate, format_table, load_cases, read_digest

    settings = settings_from(args)
    cases = load_cases(args.quality)
    pipeline = Pipeline(settings)
    run = read_digest(
        lambda doc, langs: pipeline.run(doc, langs, engine=args.engine),
        settings.ingest,
    )
    tallies = evaluate(cases, run)
    result = {lang: tally.summary() for lang, tally in tallies.items()}
    if args.json and str(args.json) == "-":
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(format_table(tallies))
    if args.examples:
        for line in tallies["all"].examples:
            print(line)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0
