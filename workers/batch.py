"""``batch`` through the worker pool: the same isolation and limits as the bot.

Workers read and digest each input and render its formats; this process only decides what to
submit, writes the outputs (atomically) and keeps the cache, under the output folder's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path

from digest.batch import (
    BatchCache,
    BatchOptions,
    BatchReport,
    FileResult,
    FileStatus,
    OutputLock,
    output_stems,
    prepare_out_dir,
    settings_fingerprint,
    write_atomic,
)
from digest.errors import DigestError
from settings.schema import Settings
from workers.errors import LimitExceededError, WorkerError
from workers.inline import Digester
from workers.jobs import DigestRequest, DigestResult, OutputFormat, PathSource
from workers.pool import WorkerPool

log = logging.getLogger(__name__)


def run_batch(
    paths: Sequence[Path],
    settings: Settings,
    options: BatchOptions,
    on_result: Callable[[FileResult], None] | None = None,
    pool: Digester | None = None,
) -> BatchReport:
    """Digest ``paths`` into ``options.out_dir``; ``pool`` defaults to one of ``options.jobs``
    workers, closed at the end (its workers die with this process in any case)."""
    prepare_out_dir(options.out_dir)
    report = BatchReport()
    with OutputLock(options.out_dir):
        cache = BatchCache(options.out_dir).load()
        own_pool = pool is None and bool(paths)
        if own_pool:
            pool = WorkerPool(settings, count=max(1, min(options.jobs, len(paths))))
        try:
            submitted = _submit(paths, settings, options, cache, pool) if paths else []
            for path, outputs, future in submitted:
                result = _finish(path, outputs, future, cache)
                report.results.append(result)
                if on_result:
                    on_result(result)
        finally:
            if own_pool and pool is not None:
                pool.close()
    return report


def _submit(
    paths: Sequence[Path],
    settings: Settings,
    options: BatchOptions,
    cache: BatchCache,
    pool: Digester | None,
) -> list[tuple[Path, dict[tuple[str, str], Path], Future[DigestResult]]]:
    assert pool is not None
    stems = output_stems(paths)
    fingerprint = settings_fingerprint(settings, options)
    formats = tuple(OutputFormat(f) for f in options.formats)
    submitted = []
    for path in paths:
        outputs = options.outputs(stems[path])
        known = None
        if not options.force and all(o.exists() for o in outputs.values()):
            known = cache.key(path)
        request = DigestRequest(
            PathSource(path),
            options.languages,
            formats,
            options.engine,
            key_salt=fingerprint,
            skip_if_key=known,
        )
        submitted.append((path, outputs, pool.submit(request)))
    return submitted


def _finish(
    path: Path,
    outputs: dict[tuple[str, str], Path],
    future: Future[DigestResult],
    cache: BatchCache,
) -> FileResult:
    files = tuple(outputs.values())
    try:
        result = future.result()
    except LimitExceededError as exc:
        return FileResult(path, FileStatus.FAILED, error=f"{path}: {exc}")
    except DigestError as exc:  # its message names the input already
        return FileResult(path, FileStatus.FAILED, error=str(exc))
    except WorkerError as exc:
        return FileResult(path, FileStatus.FAILED, error=f"{path}: {exc}")
    if result.unchanged:
        return FileResult(path, FileStatus.SKIPPED, files)
    for (lang, fmt), target in outputs.items():
        try:
            write_atomic(target, result.rendered[lang][fmt])
        except OSError as exc:
            return FileResult(
                path, FileStatus.FAILED, error=f"{target}: cannot write ({exc.strerror or exc})"
            )
    if result.content_key is not None:
        cache.record(path, result.content_key, files)
        try:
            cache.save()
        except OSError as exc:
            # The outputs are written; only the next run's skipping is lost.
            log.warning("cannot save the batch cache %s: %s", cache.path, exc.strerror or exc)
    return FileResult(path, FileStatus.DONE, files)
