"""Per-job limits as the pool applies them, and the memory limit as the worker sets it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from settings.schema import WorkersSettings

try:
    import resource
except ImportError:  # not on Windows: the memory limit is then not enforced
    resource = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class JobLimits:
    timeout_s: float
    memory_mb: int
    max_retries: int
    cancel_grace_s: float

    @classmethod
    def from_settings(cls, workers: WorkersSettings) -> JobLimits:
        return cls(
            timeout_s=workers.job_timeout_s,
            memory_mb=workers.job_memory_mb,
            max_retries=workers.max_retries,
            cancel_grace_s=workers.cancel_grace_s,
        )


class MemoryLimit:
    """RLIMIT_AS for the duration of one job: the worker's size now plus the job's budget.

    Counted from the loaded worker, so that the budget means the same whatever models are
    loaded. Past it, allocations fail with MemoryError (the worker reports and exits).
    """

    def __init__(self, budget_mb: int) -> None:
        self._budget = budget_mb * _MB
        self._saved: tuple[int, int] | None = None

    def __enter__(self) -> MemoryLimit:
        if resource is None:
            return self
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        self._saved = (soft, hard)
        target = address_space_in_use() + self._budget
        if hard != resource.RLIM_INFINITY:
            target = min(target, hard)
        resource.setrlimit(resource.RLIMIT_AS, (target, hard))
        return self

    def __exit__(self, *exc: object) -> None:
        self.lift()

    def lift(self) -> None:
        """Back to the limit before the job (called first thing after a MemoryError)."""
        if resource is not None and self._saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, self._saved)
            self._saved = None


def address_space_in_use() -> int:
    """Bytes of virtual memory this process maps now (VmSize); 0 where unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        log.debug("VmSize unavailable", exc_info=True)
    return 0


def caused_by_memory(exc: BaseException) -> bool:
    """A MemoryError, or an error raised while handling one (ingest wraps parser errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
