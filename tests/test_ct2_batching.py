"""How the CTranslate2 path batches (by examples, evened out over the parallel threads) and how
the benchmark judges its own noise: pure functions, no models."""

from __future__ import annotations

import math
from typing import Any

from bench import interleaved
from models.runtimes.ct2_backend import (
    batching_options,
    parallel_batch_size,
)


def test_batches_are_counted_in_inputs_evened_over_the_threads() -> None:
    lengths = [10] * 12 + [50] * 12
    # 24 inputs, batch 16, 2 threads: two batches of 12 run side by side, not 16 then 8.
    assert batching_options(lengths, batch_size=16, inter_threads=2) == {
        "max_batch_size": 12,
        "batch_type": "examples",
    }
    # The same number of inputs in every batch whatever their lengths: long and short inputs
    # decode the same steps, so the threads finish together.
    assert batching_options([400, 3, 3, 3], batch_size=4, inter_threads=2)["max_batch_size"] == 2
    assert batching_options([], 8, 2)["max_batch_size"] == 0


def test_no_batch_is_larger_than_the_configured_batch() -> None:
    for inputs in range(1, 60):
        for size in (1, 2, 4, 16):
            for inter in (1, 2, 3):
                per_batch = parallel_batch_size(size, inter, inputs)
                assert 1 <= per_batch <= size
                batches = math.ceil(inputs / per_batch)
                # No more rounds of parallel batches than full-size batches would take.
                fewest = math.ceil(math.ceil(inputs / size) / inter)
                assert math.ceil(batches / inter) == fewest


def _series(rates: list[float], rss: float, others: float) -> interleaved.Series:
    runs = [
        {"tokens": 100, "seconds": 100 / r, "peak_rss_mb": rss, "others_share": others}
        for r in rates
    ]
    return interleaved.Series(load_s=1.0, runs=runs)


def test_summary_reports_medians_of_paired_ratios() -> None:
    series = {
        "base": _series([100, 50, 100], 900, 0.02),
        "fast": _series([400, 210, 380], 300, 0.02),
    }
    result: dict[str, Any] = interleaved.summary(series, "base")
    assert result["base"]["speedup"] == 1.0 and result["base"]["tokens_per_s"] == 100
    # Ratios per round 4.0, 4.2, 3.8: the median, not the ratio of medians (380 / 100).
    assert result["fast"]["speedup_runs"] == [4.0, 4.2, 3.8]
    assert result["fast"]["speedup"] == 4.0 and result["fast"]["memory_ratio"] == 3.0


def test_noise_verdict_names_a_busy_machine() -> None:
    quiet = interleaved.noise_verdict([0.01, 0.03], [[4.0, 4.1, 4.2]])
    assert quiet["verdict"] is interleaved.Noise.QUIET
    busy = interleaved.noise_verdict([0.5, 0.6], [[4.0, 4.1, 4.2]])
    assert busy["verdict"] is interleaved.Noise.NOISY and busy["others_share_median"] == 0.55
    spread = interleaved.noise_verdict([0.0], [[3.0, 4.5, 4.0]])
    assert spread["verdict"] is interleaved.Noise.NOISY and spread["ratio_spread"] == 0.5


def test_a_failed_backend_is_reported_not_measured() -> None:
    series = {"base": _series([100], 900, 0.0), "fast": interleaved.Series(error="exit 1: boom")}
    assert interleaved.summary(series, "base")["fast"] == {"error": "exit 1: boom"}


def test_the_worst_run_is_reported_beside_the_median() -> None:
    series = {"base": _series([100, 100, 100], 900, 0.0)}
    series["base"].runs[1]["others_share"] = 0.7
    result = interleaved.summary(series, "base")["base"]
    assert result["others_share"] == 0.0 and result["others_share_max"] == 0.7
    verdict = interleaved.noise_verdict([0.0], [], [0.7])
    assert verdict["others_share_max"] == 0.7 and verdict["verdict"] is interleaved.Noise.QUIET
