"""How the CTranslate2 path batches (by tokens) and how the benchmark judges its own noise:
pure functions, no models."""

from __future__ import annotations

from typing import Any

from bench import interleaved
from models.runtimes.ct2_backend import batching_options, parallel_batch_size


def test_batches_are_counted_in_tokens_of_the_mean_input() -> None:
    lengths = [10] * 12 + [50] * 12  # mean 30
    options = batching_options(lengths, batch_size=16, inter_threads=2)
    per_batch = parallel_batch_size(16, 2, len(lengths))
    assert options == {"max_batch_size": per_batch * 30, "batch_type": "tokens"}
    # Sorted by length, a batch of short inputs holds more of them than one of long inputs.
    assert options["max_batch_size"] // 10 > per_batch > options["max_batch_size"] // 50


def test_a_batch_always_fits_the_longest_input() -> None:
    options = batching_options([3, 3, 3, 400], batch_size=2, inter_threads=2)
    assert options["max_batch_size"] == 400
    assert batching_options([], 8, 2)["max_batch_size"] == 0


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
