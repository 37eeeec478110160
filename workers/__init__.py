"""Digest work in worker processes: ingest, pipeline and rendering away from the front ends.

Layering: cli -> bot -> workers -> digest -> models -> settings. Nothing here knows Telegram.
"""

from workers.compute import DigestEngine, PipelineFactory, build_pipeline
from workers.errors import (
    JobCancelledError,
    JobInternalError,
    LimitExceededError,
    LimitKind,
    PoolClosedError,
    WorkerCrashedError,
    WorkerError,
    WorkerStartError,
)
from workers.inline import Digester, InlineDigester
from workers.jobs import BytesSource, DigestRequest, DigestResult, OutputFormat, PathSource
from workers.limits import JobLimits
from workers.pool import PoolStats, WorkerPool

__all__ = [
    "BytesSource",
    "DigestEngine",
    "DigestRequest",
    "DigestResult",
    "Digester",
    "InlineDigester",
    "JobCancelledError",
    "JobInternalError",
    "JobLimits",
    "LimitExceededError",
    "LimitKind",
    "OutputFormat",
    "PathSource",
    "PipelineFactory",
    "PoolClosedError",
    "PoolStats",
    "WorkerCrashedError",
    "WorkerError",
    "WorkerPool",
    "WorkerStartError",
    "build_pipeline",
]
