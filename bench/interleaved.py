"""Interleaved measurements on a shared machine: loaded worker processes, taken in turn, and
what the rest of the machine was doing meanwhile.

Each backend runs in its own worker process (so its peak RSS is its own), loaded once; the
harness asks the workers for one timed run each in turn (``A B A B ...``). A busy neighbour
then slows a pair of adjacent runs alike rather than one backend's whole measurement, and
the ratio of each pair is a fair sample; the median of those samples is reported, with their
spread.

Noise: around every timed run the harness reads ``/proc/stat`` and the worker reports its own
CPU time, so the CPU the *other* processes used during the run is known (as a share of all
cores). With the 1-minute load average before and after, and the spread of the ratios, the
report says how much to trust the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

# The machine counts as quiet when others used under this share of the CPU during the runs
# and the ratios of the rounds agree within this much (max / min - 1).
QUIET_OTHER_SHARE = 0.10
QUIET_RATIO_SPREAD = 0.15


class Noise(StrEnum):
    QUIET = "quiet"
    NOISY = "noisy"


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU time of the whole machine since boot, in clock ticks."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def serve(make: Callable[[dict[str, Any]], Any], spec: dict[str, Any]) -> int:
    """The worker side: ``make(spec)`` loads a runner (``.load_s``, ``.run() -> tokens``);
    each line on stdin asks for one timed run, answered with one JSON line."""
    import time

    runner = make(spec)
    print(json.dumps({"ready": True, "load_s": round(runner.load_s, 2)}), flush=True)
    for _ in sys.stdin:
        cpu0, started = os.times(), time.perf_counter()
        tokens = runner.run()
        seconds = time.perf_counter() - started
        cpu1 = os.times()
        print(
            json.dumps(
                {
                    "tokens": tokens,
                    "seconds": round(seconds, 4),
                    "cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 3),
                    "peak_rss_mb": round(_peak_rss_mb(), 1),
                }
            ),
            flush=True,
        )
    return 0


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Worker:
    """A loaded worker process (``python SCRIPT --serve SPEC``), asked for runs one at a time."""

    def __init__(self, script: Path, spec: dict[str, Any], env: dict[str, str]) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(spec, handle)
        self.spec_file = Path(handle.name)
        self.process = subprocess.Popen(
            [sys.executable, str(script), "--serve", handle.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.load_s = float(self._answer()["load_s"])

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            tail = (self.process.stderr.read() if self.process.stderr else "").strip()
            last = tail.splitlines()[-1] if tail else "no output"
            raise RuntimeError(f"exit {code}: {last}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def run(self) -> dict[str, Any]:
        """One timed run, with the share of the CPU other processes used meanwhile."""
        assert self.process.stdin is not None
        before = cpu_jiffies()
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        result = self._answer()
        after = cpu_jiffies()
        if before and after and after[1] > before[1]:
            ticks = os.sysconf("SC_CLK_TCK")
            busy = (after[0] - before[0]) / ticks
            cores = (after[1] - before[1]) / ticks / max(result["seconds"], 1e-6)
            others = max(0.0, busy - result["cpu_s"])
            result["others_share"] = round(min(1.0, others / (result["seconds"] * cores)), 3)
        return result

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.spec_file.unlink(missing_ok=True)


@dataclass
class Series:
    """One backend's runs in one interleaved measurement."""

    load_s: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def rates(self) -> list[float]:
        return [r["tokens"] / r["seconds"] for r in self.runs if r["seconds"] > 0]


def interleave(
    workers: dict[str, Callable[[], Worker]],
    rounds: int,
    on_run: Callable[[str, Any], None],
    *,
    min_rounds: int = 1,
    budget_s: float | None = None,
) -> dict[str, Series]:
    """Start every worker, then ``rounds`` rounds of one run each, in turn.

    With ``budget_s``, rounds after the first ``min_rounds`` are run only while another
    round (as long as the mean one so far) fits in that many seconds of timed rounds: a slow
    machine gets fewer rounds, never fewer than ``min_rounds``.
    """
    series: dict[str, Series] = {label: Series() for label in workers}
    live: dict[str, Worker] = {}
    try:
        for label, start in workers.items():
            try:
                live[label] = start()
                series[label].load_s = live[label].load_s
            except Exception as exc:  # reported in the table; the others are measured
                series[label].error = str(exc)
        started = time.perf_counter()
        for done in range(rounds):
            if budget_s is not None and done >= max(min_rounds, 1):
                spent = time.perf_counter() - started
                if spent + spent / done > budget_s:
                    break
            for label, worker in live.items():
                if series[label].error:
                    continue
                try:
                    result = worker.run()
                except Exception as exc:
                    series[label].error = str(exc)
                    continue
                series[label].runs.append(result)
                on_run(label, result)
    finally:
        for worker in live.values():
            worker.close()
    return series


def summary(series: dict[str, Series], baseline: str) -> dict[str, dict[str, Any]]:
    """Per backend: median tokens/s, the median and spread of its per-round ratio to the
    baseline, peak RSS and the memory ratio, and the other processes' CPU share."""
    base = series.get(baseline)
    out: dict[str, dict[str, Any]] = {}
    for label, s in series.items():
        if s.error or not s.runs:
            out[label] = {"error": s.error or "no runs"}
            continue
        rates = s.rates()
        entry: dict[str, Any] = {
            "tokens": s.runs[-1]["tokens"],
            "tokens_per_s": round(statistics.median(rates), 1),
            "tokens_per_s_runs": [round(r, 1) for r in rates],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in s.runs),
            "load_s": s.load_s,
            "others_share": _median([r.get("others_share") for r in s.runs]),
            "others_share_max": _max([r.get("others_share") for r in s.runs]),
        }
        if base is not None and not base.error and base.runs:
            ratios = [a / b for a, b in zip(rates, base.rates(), strict=False)]
            entry["speedup"] = round(statistics.median(ratios), 2)
            entry["speedup_runs"] = [round(r, 2) for r in ratios]
            entry["memory_ratio"] = round(
                max(r["peak_rss_mb"] for r in base.runs) / entry["peak_rss_mb"], 2
            )
        out[label] = entry
    return out


def _max(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def noise_verdict(
    others_shares: Sequence[float | None],
    ratio_runs: Sequence[Sequence[float]],
    worst_shares: Sequence[float | None] = (),
) -> dict[str, Any]:
    """How noisy the measurements were: the others' CPU share (median of the backends'
    medians, and the worst single run) and the widest spread of a backend's per-round
    ratios."""
    shares = [s for s in others_shares if s is not None]
    worst = [s for s in worst_shares if s is not None] or shares
    spreads = [max(r) / min(r) - 1 for r in ratio_runs if r and min(r) > 0]
    worst_spread = max(spreads, default=0.0)
    median_share = statistics.median(shares) if shares else None
    quiet = (median_share is None or median_share < QUIET_OTHER_SHARE) and (
        worst_spread < QUIET_RATIO_SPREAD
    )
    return {
        "verdict": Noise.QUIET if quiet else Noise.NOISY,
        "others_share_median": None if median_share is None else round(median_share, 3),
        "others_share_max": round(max(worst), 3) if worst else None,
        "ratio_spread": round(worst_spread, 3),
    }
