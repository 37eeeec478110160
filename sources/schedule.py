"""When a source is checked next, and when its followers hear that it fails or recovered.

A working source is checked every ``interval``. A failing one waits interval x 2^(n-1) after
its n-th failure in a row, at most ``max_backoff_s``. Once it has failed for
``failing_notice_after_s`` its followers are told, once; when a check works again after that,
they are told it recovered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from settings.schema import SourcesSettings
from sources.model import Health, OutboxKind, SourceSpec, SourceState


@dataclass(frozen=True, slots=True)
class Transition:
    state: SourceState
    # A notice owed to the followers, if this check changed what they were told.
    notice: OutboxKind | None = None


class IntervalError(ValueError):
    """A follower's check interval outside [min_interval_s, max_interval_s]."""

    def __init__(self, message: str, *, too_often: bool, limit_minutes: float) -> None:
        super().__init__(message)
        self.too_often = too_often
        self.limit_minutes = limit_minutes


def interval_for(minutes: float | None, limits: SourcesSettings) -> float:
    """The interval in seconds for a follower's choice (None: the default); IntervalError
    naming the limit when it is out of range."""
    if minutes is None:
        return limits.check_interval_s
    seconds = minutes * 60.0
    if seconds < limits.min_interval_s:
        low = limits.min_interval_s / 60
        raise IntervalError(
            f"sources are checked at most every {low:g} min", too_often=True, limit_minutes=low
        )
    if seconds > limits.max_interval_s:
        high = limits.max_interval_s / 60
        raise IntervalError(
            f"sources are checked at least every {high:g} min",
            too_often=False,
            limit_minutes=high,
        )
    return seconds


def backoff(failures: int, spec: SourceSpec, limits: SourcesSettings) -> float:
    """Seconds to wait after the ``failures``-th failure in a row."""
    return float(min(spec.interval_s * 2 ** max(0, failures - 1), limits.max_backoff_s))


def after_success(state: SourceState, now: float) -> Transition:
    notice = OutboxKind.RECOVERED if state.health is Health.DOWN else None
    updated = replace(
        state,
        next_check=now + state.spec.interval_s,
        failures=0,
        failing_since=None,
        health=Health.OK,
        last_check=now,
        last_error=None,
        initialised=True,
    )
    return Transition(updated, notice)


def after_failure(
    state: SourceState, now: float, error: str, limits: SourcesSettings
) -> Transition:
    failures = state.failures + 1
    since = state.failing_since if state.failing_since is not None else now
    health, notice = state.health, None
    if health is Health.OK:
        health = Health.FAILING
    if health is Health.FAILING and now - since >= limits.failing_notice_after_s:
        health, notice = Health.DOWN, OutboxKind.FAILING
    updated = replace(
        state,
        next_check=now + backoff(failures, state.spec, limits),
        failures=failures,
        failing_since=since,
        health=health,
        last_check=now,
        last_error=error,
    )
    return Transition(updated, notice)
