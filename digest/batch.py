"""Digest many transcripts: inputs expanded, results cached by content, failures collected."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import DigestError
from digest.ingest import SUPPORTED_EXTENSIONS, read_path
from digest.pipeline import Pipeline
from digest.render import EXTENSIONS, render
from settings.schema import Settings

log = logging.getLogger(__name__)
CACHE_FILE = ".briefing-digest-cache.json"


@dataclass(frozen=True, slots=True)
class BatchOptions:
    out_dir: Path
    languages: tuple[str, ...]
    formats: tuple[str, ...]
    engine: str | None = None
    jobs: int = 1
    force: bool = False


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    status: str  # "done", "skipped" or "failed"
    outputs: tuple[Path, ...] = ()
    error: str = ""


@dataclass(slots=True)
class BatchReport:
    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]


class InputError(DigestError):
    """An input argument matches no readable file."""


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files as given; folders searched recursively for supported files; globs expanded."""
    found: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        elif path.exists() or not glob.has_magic(raw):
            # A missing file is reported per file, like any other failure.
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"{raw}: no files match")
            found += matches
    return list(dict.fromkeys(found))


def run_batch(
    paths: Sequence[Path],
    settings: Settings,
    options: BatchOptions,
    on_result: Callable[[FileResult], None] | None = None,
) -> BatchReport:
    options.out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = options.out_dir / CACHE_FILE
    cache = _load_cache(cache_path)
    stems = _output_stems(paths)
    fingerprint = _settings_fingerprint(settings, options)
    tasks = [(p, stems[p], fingerprint, cache.get(str(p.resolve()))) for p in paths]
    report = BatchReport()
    for result, key in _execute(tasks, settings, options):
        report.results.append(result)
        if result.status == "done" and key:
            cache[str(result.path.resolve())] = {
                "key": key,
                "outputs": [str(o) for o in result.outputs],
            }
            _save_cache(cache_path, cache)
        if on_result:
            on_result(result)
    return report


_worker_pipeline: Pipeline | None = None


def _init_worker(settings: Settings) -> None:
    global _worker_pipeline
    _worker_pipeline = Pipeline(settings)


def _execute(
    tasks: list[tuple[Path, str, str, dict | None]], settings: Settings, options: BatchOptions
) -> Iterator[tuple[FileResult, str | None]]:
    if options.jobs <= 1 or len(tasks) <= 1:
        _init_worker(settings)
        for task in tasks:
            yield _process(task, options)
        return
    with ProcessPoolExecutor(options.jobs, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.map(_process, tasks, [options] * len(tasks))


def _process(
    task: tuple[Path, str, str, dict | None], options: BatchOptions
) -> tuple[FileResult, str | None]:
    path, stem, fingerprint, cached = task
    assert _worker_pipeline is not None
    pipeline = _worker_pipeline
    try:
        doc = read_path(path, pipeline.settings.ingest)
        key = hashlib.sha256(f"{fingerprint}\0{doc.text}".encode()).hexdigest()
        outputs = tuple(
            options.out_dir / f"{stem}.{lang}{EXTENSIONS[fmt]}"
            for lang in options.languages
            for fmt in options.formats
        )
        if (
            not options.force
            and cached
            and cached.get("key") == key
            and all(o.exists() for o in outputs)
        ):
            return FileResult(path, "skipped", outputs), None
        digests = pipeline.run(doc, options.languages, options.engine)
        for lang, digest in digests.items():
            for fmt in options.formats:
                target = options.out_dir / f"{stem}.{lang}{EXTENSIONS[fmt]}"
                target.write_text(render(digest, fmt, pipeline.resources), encoding="utf-8")
        return FileResult(path, "done", outputs), key
    except DigestError as exc:
        return FileResult(path, "failed", error=str(exc)), None
    except Exception as exc:  # one bad file must not stop the batch
        log.exception("unexpected failure", extra={"path": str(path)})
        return FileResult(path, "failed", error=f"{path}: internal error: {exc}"), None


def _output_stems(paths: Sequence[Path]) -> dict[Path, str]:
    """Output names from input stems; inputs that share a stem get a short path hash."""
    seen: dict[str, int] = {}
    for p in paths:
        seen[p.stem] = seen.get(p.stem, 0) + 1
    return {
        p: p.stem
        if seen[p.stem] == 1
        else f"{p.stem}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
        for p in paths
    }


def _settings_fingerprint(settings: Settings, options: BatchOptions) -> str:
    relevant = {
        "settings": settings.model_dump(
            mode="json",
            # [models] and [llm] choose the weights and the backend that write the digest.
            include={"summary", "language", "translation", "summarisation", "models", "llm"},
        ),
        "languages": options.languages,
        "formats": options.formats,
        "engine": options.engine,
        # Edited taxonomy, glossary or labels change the digests too.
        "prompts": _tree_hash(settings.paths.prompts_dir),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load_cache(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(path: Path, cache: dict[str, dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(cache, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
