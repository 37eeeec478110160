"""Counters and histograms for ``/metrics``, in the Prometheus text format (no dependency).

Thread-safe: worker threads report jobs, the event loop reports requests. Counters restart
from zero with the process, as Prometheus expects; the queue's gauges are read from the
queue itself when scraped.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable

from bot.jobs import Job, QueueSnapshot

PREFIX = "briefing_digest"
# Seconds from a briefing being queued to its digest being delivered.
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Seconds from a webhook request arriving to its answer.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

Labels = tuple[tuple[str, str], ...]


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out = []
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            cumulative += count
            out.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
        out.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        out.append(f"{name}_sum {self.total:.6f}")
        out.append(f"{name}_count {self.count}")
        return out


_HELP = {
    "updates_received_total": ("counter", "Telegram updates received and handled (first time)."),
    "updates_duplicate_total": ("counter", "Updates received again (same update_id): not handled."),
    "webhook_requests_total": ("counter", "Webhook requests by HTTP status answered."),
    "jobs_submitted_total": ("counter", "Briefings queued."),
    "jobs_finished_total": (
        "counter",
        "Jobs ended, by outcome (done, failed, cancelled, given_up after max_attempts).",
    ),
    "job_retries_total": ("counter", "Attempts that failed and were scheduled again."),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._latency = Histogram(LATENCY_BUCKETS)
        self._ack = Histogram(ACK_BUCKETS)
        # Set by the bot once the queue exists.
        self.queue_snapshot: Callable[[], QueueSnapshot] | None = None

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def update_received(self, fresh: bool) -> None:
        self.inc("updates_received_total" if fresh else "updates_duplicate_total")

    def webhook_answered(self, status: int, seconds: float) -> None:
        self.inc("webhook_requests_total", code=str(status))
        if status == 200:
            with self._lock:
                self._ack.observe(seconds)

    def job_submitted(self) -> None:
        self.inc("jobs_submitted_total")

    def job_ended(self, job: Job, outcome: str, seconds: float) -> None:
        """The queues' observer: every end of a job (and every retry)."""
        if outcome == "retry":
            self.inc("job_retries_total")
            return
        self.inc("jobs_finished_total", outcome=outcome)
        if outcome == "done":
            with self._lock:
                self._latency.observe(max(0.0, seconds))

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for short, (kind, help_text) in _HELP.items():
                name = f"{PREFIX}_{short}"
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                series = self._counters.get(short) or {(): 0.0}
                for labels, value in sorted(series.items()):
                    lines.append(f"{name}{_labels(labels)} {value:g}")
            name = f"{PREFIX}_job_latency_seconds"
            lines += [
                f"# HELP {name} Seconds from a briefing being queued to its digest delivered.",
                f"# TYPE {name} histogram",
                *self._latency.lines(name),
            ]
            name = f"{PREFIX}_webhook_ack_seconds"
            lines += [
                f"# HELP {name} Seconds from a webhook request to its 200 (update stored).",
                f"# TYPE {name} histogram",
                *self._ack.lines(name),
            ]
        if self.queue_snapshot is not None:
            snap = self.queue_snapshot()
            name = f"{PREFIX}_jobs"
            lines += [
                f"# HELP {name} Jobs in the queue now, by state.",
                f"# TYPE {name} gauge",
                f'{name}{{state="queued"}} {snap.queued}',
                f'{name}{{state="running"}} {snap.running}',
                f"# HELP {PREFIX}_workers_alive Worker threads alive.",
                f"# TYPE {PREFIX}_workers_alive gauge",
                f"{PREFIX}_workers_alive {snap.workers_alive}",
            ]
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(value)}"' for key, value in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
