"""One job's work: bytes or a file -> Document -> digests -> rendered formats.

Run inside a worker process by the pool, or in the caller's thread by :class:`InlineDigester`
(tests that inject an in-process engine). Knows nothing of processes or Telegram.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Protocol

from digest.ingest import read_bytes, read_path
from digest.model import Digest, Document
from digest.pipeline import Pipeline, ProgressCallback
from digest.render import render, split_telegram_html
from digest.resources import Resources
from settings.schema import IngestSettings, Settings
from workers.jobs import BytesSource, DigestRequest, DigestResult, OutputFormat, PathSource


class DigestEngine(Protocol):
    """The part of :class:`digest.pipeline.Pipeline` a job uses."""

    resources: Resources

    def run(
        self,
        doc: Document,
        languages: Sequence[str] | None = None,
        engine: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, Digest]: ...


# Builds a worker's engine once, in the worker. Must be picklable (a module-level function):
# the pool sends it to processes started with spawn. Tests pass their own.
PipelineFactory = Callable[[Settings], DigestEngine]
Checkpoint = Callable[[], None]


def build_pipeline(settings: Settings) -> DigestEngine:
    return Pipeline(settings)


def content_key(salt: str, text: str) -> str:
    return hashlib.sha256(f"{salt}\0{text}".encode()).hexdigest()


def compute(
    engine: DigestEngine,
    request: DigestRequest,
    ingest: IngestSettings,
    progress: ProgressCallback,
    checkpoint: Checkpoint,
) -> DigestResult:
    """``checkpoint`` raises to stop the job (cancelled); ``progress`` may raise too."""
    doc = _ingest(request.source, ingest)
    key = None
    if request.key_salt is not None:
        key = content_key(request.key_salt, doc.text)
        if request.skip_if_key is not None and key == request.skip_if_key:
            return DigestResult(source_name=doc.name, content_key=key, unchanged=True)
    checkpoint()
    digests = engine.run(doc, request.languages, request.engine, progress)
    checkpoint()
    return _render(engine.resources, doc, digests, request.formats, key)


def _ingest(source: BytesSource | PathSource, ingest: IngestSettings) -> Document:
    if isinstance(source, PathSource):
        return read_path(source.path, ingest)
    return read_bytes(source.data, source.name, ingest)


def _render(
    resources: Resources,
    doc: Document,
    digests: dict[str, Digest],
    formats: Sequence[OutputFormat],
    key: str | None,
) -> DigestResult:
    texts = [f for f in formats if f is not OutputFormat.TELEGRAM]
    first = next(iter(digests.values()), None)
    return DigestResult(
        source_name=first.source_name if first else doc.name,
        content_key=key,
        source_language=first.source_language if first else "",
        digests=digests,
        rendered={
            lang: {f.value: render(digest, f.value, resources) for f in texts}
            for lang, digest in digests.items()
        },
        telegram={
            lang: tuple(split_telegram_html(digest, resources))
            for lang, digest in digests.items()
            if OutputFormat.TELEGRAM in formats
        },
    )
