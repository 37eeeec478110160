"""Counters and histograms for ``/metrics``, kept and written by ``prometheus_client``.

Each :class:`Metrics` has its own registry (tests run several bots in one process). Worker
threads report jobs, the event loop reports requests; prometheus_client is thread-safe. The
queue's gauges are read from the queue itself when scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.jobs import Job, Outcome, QueueSnapshot

PREFIX = "briefing_digest"
# Seconds from a briefing being queued to its digest being delivered.
LATENCY_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Seconds from a webhook request arriving to its answer.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _QueueCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._metrics.queue_snapshot
        if snapshot is None:
            return
        snap = snapshot()
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs", "Jobs in the queue now, by state.", labels=["state"]
        )
        jobs.add_metric(["queued"], snap.queued)
        jobs.add_metric(["running"], snap.running)
        yield jobs
        yield GaugeMetricFamily(
            f"{PREFIX}_workers_alive", "Worker threads alive.", value=snap.workers_alive
        )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._received = Counter(
            f"{PREFIX}_updates_received",
            "Telegram updates received and handled (first time).",
            registry=r,
        )
        self._duplicates = Counter(
            f"{PREFIX}_updates_duplicate",
            "Updates received again (same update_id): not handled.",
            registry=r,
        )
        self._requests = Counter(
            f"{PREFIX}_webhook_requests",
            "Webhook requests by HTTP status answered.",
            ["code"],
            registry=r,
        )
        self._refused = Counter(
            f"{PREFIX}_webhook_connections_refused",
            "Connections refused with 503: as many were open as allowed.",
            registry=r,
        )
        self._submitted = Counter(f"{PREFIX}_jobs_submitted", "Briefings queued.", registry=r)
        self._finished = Counter(
            f"{PREFIX}_jobs_finished",
            "Jobs ended, by outcome (done, failed, cancelled, given_up after max_attempts).",
            ["outcome"],
            registry=r,
        )
        self._retries = Counter(
            f"{PREFIX}_job_retries", "Attempts that failed and were scheduled again.", registry=r
        )
        self._latency = Histogram(
            f"{PREFIX}_job_latency_seconds",
            "Seconds from a briefing being queued to its digest delivered.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._ack = Histogram(
            f"{PREFIX}_webhook_ack_seconds",
            "Seconds from a webhook request to its 200 (update stored).",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        # Set by the bot once the queue exists.
        self.queue_snapshot: Callable[[], QueueSnapshot] | None = None
        r.register(_QueueCollector(self))

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 if none), by its full name without the prefix."""
        found = self.registry.get_sample_value(f"{PREFIX}_{name}", labels)
        return 0.0 if found is None else found

    def update_received(self, fresh: bool) -> None:
        (self._received if fresh else self._duplicates).inc()

    def webhook_request(self, status: int) -> None:
        """A webhook request answered without reaching the update handler (404, 405...)."""
        self._requests.labels(code=str(status)).inc()

    def webhook_answered(self, status: int, seconds: float) -> None:
        self.webhook_request(status)
        if status == 200:
            self._ack.observe(seconds)

    def connection_refused(self) -> None:
        self._refused.inc()

    def job_submitted(self) -> None:
        self._submitted.inc()

    def job_ended(self, job: Job, outcome: Outcome, seconds: float) -> None:
        """The queue's observer: every end of a job (and every retry)."""
        if outcome is Outcome.RETRY:
            self._retries.inc()
            return
        self._finished.labels(outcome=outcome.value).inc()
        if outcome is Outcome.DONE:
            self._latency.observe(max(0.0, seconds))

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
