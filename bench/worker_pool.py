"""Digests per second of the worker pool with N workers, and how the parent keeps up meanwhile.

    python bench/worker_pool.py [--jobs 24] [--repeat 12] [--counts 2,1]

For each worker count (default: the cores, and one fewer), the pool digests ``--jobs``
briefings (the bundled samples, each repeated ``--repeat`` times to weigh like a long
briefing) into en, hi and ru with Markdown, JSON and Telegram renderings, all submitted at
once. Meanwhile the parent's main thread wakes every 5 ms, standing in for the bot's event
loop (/healthz, acknowledgements): its lateness shows what saturated workers leave the
parent. Decides the default of ``[workers] count``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from settings import PROJECT_ROOT, load_settings
from workers import BytesSource, DigestRequest, OutputFormat, WorkerPool
from workers.limits import cpu_count

FORMATS = (OutputFormat.MD, OutputFormat.JSON, OutputFormat.TELEGRAM)
TICK_S = 0.005


def requests(jobs: int, repeat: int) -> list[DigestRequest]:
    samples = sorted((PROJECT_ROOT / "samples").glob("*.txt"))
    texts = [("\n\n".join([p.read_text(encoding="utf-8")] * repeat), p.name) for p in samples]
    return [
        DigestRequest(
            BytesSource(texts[i % len(texts)][0].encode(), texts[i % len(texts)][1]),
            ("en", "hi", "ru"),
            FORMATS,
        )
        for i in range(jobs)
    ]


def lateness_while(done: threading.Event) -> list[float]:
    """How late (ms) each 5 ms wake-up of this thread comes while ``done`` is not set."""
    late = []
    while not done.is_set():
        started = time.perf_counter()
        time.sleep(TICK_S)
        late.append((time.perf_counter() - started - TICK_S) * 1000)
    return late


def measure(count: int, batch: list[DigestRequest]) -> tuple[float, float, float]:
    settings = load_settings()
    with WorkerPool(settings, count=count) as pool:
        if not pool.wait_ready(120):
            raise SystemExit(f"{count} workers did not start")
        for future in [pool.submit(batch[0]) for _ in range(count)]:
            future.result()  # every worker has digested once: language profiles loaded
        done = threading.Event()
        started = time.perf_counter()
        futures = [pool.submit(r) for r in batch]
        remaining = [len(futures)]
        lock = threading.Lock()

        def finished(_: object) -> None:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        for future in futures:
            future.add_done_callback(finished)
        late = lateness_while(done)
        elapsed = time.perf_counter() - started
        for future in futures:
            future.result()
    quantiles = statistics.quantiles(late, n=100)
    return len(batch) / elapsed, quantiles[49], quantiles[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24, help="briefings per run")
    parser.add_argument("--repeat", type=int, default=12, help="copies of a sample per briefing")
    parser.add_argument("--counts", help="worker counts, comma separated (default: cores, cores-1)")
    args = parser.parse_args()
    cores = cpu_count()
    counts = (
        [int(c) for c in args.counts.split(",")]
        if args.counts
        else list(dict.fromkeys([cores, max(1, cores - 1)]))
    )
    batch = requests(args.jobs, args.repeat)
    words = statistics.mean(len(r.source.data.split()) for r in batch)  # type: ignore[union-attr]
    print(
        f"{cores} cores; {len(batch)} briefings of ~{words:.0f} words; en+hi+ru, md+json+telegram"
    )
    print(f"{'workers':>7} {'digests/s':>10} {'parent late p50 ms':>19} {'p99 ms':>8}")
    for count in counts:
        rate, p50, p99 = measure(count, batch)
        print(f"{count:>7} {rate:>10.2f} {p50:>19.2f} {p99:>8.2f}")


if __name__ == "__main__":
    main()
