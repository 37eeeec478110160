"""Webhook load: updates acknowledged, lost, and acknowledgement latency (a benchmark, not a test).

    python bench/webhook_load.py [--updates 3000] [--connections 20] [--duplicates 0.05]
                                 [--kind status|ignored]

Runs ``briefing-digest bot --webhook`` as a process against the fake Bot API of the tests (on
127.0.0.1), then posts real ``Update`` JSON from ``--connections`` concurrent keep-alive
connections (httpx AsyncClient), and a share of them a second time, as Telegram does when an
answer is late. ``--kind status``: each a ``/status`` command from a different user, so that
every update handled shows as one reply (the bot answers each through the fake Bot API);
``--kind ignored``: channel posts, which the bot stores and hands to its handlers but does not
answer (the webhook, the ledger and the update processor alone). Reported:

* acknowledged: answered 200, i.e. stored in SQLite (WAL, synchronous=FULL) before the answer;
* refused: any other answer or a transport error (Telegram would deliver those again);
* lost: acknowledged but not handled within ``--settle`` seconds (no reply, or not marked
  done in the ledger) — must be 0;
* handled twice: users who got two replies — must be 0;
* p50/p90/p99/max acknowledgement latency, as the poster saw it;
* the bot process's CPU time.

Exits with status 1 if anything was lost or handled twice.

``--kind digest`` measures the bot under a steady digest load instead:

    python bench/webhook_load.py --kind digest --backend sqlite|redis --workers 1|2
                                 [--digests 60] [--digest-rate 12] [--status-rate 20]
                                 [--repeat 1]

``--digests`` users each send the bundled sample briefing, ``--digest-rate`` per second
(faster than the workers digest: they stay busy until the last digest is delivered), while
other users send ``/status`` at ``--status-rate`` per second (``--repeat K``: the briefing
K times over, ~K x 560 words, so that the digest work rather than the Bot API calls bounds the
rate). ``sqlite``: one
``briefing-digest bot --webhook`` with ``[workers] count`` =
``--workers``; ``redis``: a ``redis-server`` (temporary), one webhook front end and
``--workers`` ``briefing-digest worker`` processes (one digest process each). Reported:
digests per second (first post to last digest delivered, after one warm-up digest per
worker), and the acknowledgement latency of the posts made while the workers were
saturated, for the briefings, the /status commands and all. Exits with status 1 if a digest
is missing or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.testing.fake_bot_api import FakeUser
from bot.testing.webhook_harness import (
    SECRET,
    WebhookFakeApi,
    free_port,
    webhook_env,
)
from bot.webhook import SECRET_HEADER
from settings import PROJECT_ROOT

TOKEN = "123456:" + "A" * 35
FIRST_USER = 10_000_000


def reap(process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    """Wait for the bot to exit (killing it after ``timeout`` s); its CPU time."""
    deadline = time.monotonic() + timeout
    while True:
        pid, _, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = 0
            return f"{usage.ru_utime + usage.ru_stime:.1f} s"
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(0.05)


def bucket_quantile(metrics: str, name: str, q: float) -> str:
    """The upper bound of the histogram bucket holding quantile ``q`` (from /metrics)."""
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(f'{name}_bucket{{le="'):
            bound = line.split('"')[1]
            buckets.append(
                (float("inf") if bound == "+Inf" else float(bound), int(line.split()[-1]))
            )
    if not buckets or buckets[-1][1] == 0:
        return "?"
    total = buckets[-1][1]
    for bound, count in buckets:
        if count >= q * total:
            return f"<= {1000 * bound:g} ms" if bound != float("inf") else "> last bucket"
    return "?"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def post_all(
    url: str, updates: list[dict[str, Any]], connections: int
) -> tuple[list[float], list[int], float]:
    """Post every update from ``connections`` concurrent connections; latencies and statuses."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(update)
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                update = queue.get_nowait()
                body = httpx.Request("POST", url, json=update).content
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    status = response.status_code
                except httpx.TransportError:
                    status = 0
                latencies.append(time.perf_counter() - started)
                statuses.append(status)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return latencies, statuses, elapsed


BRIEFING = (PROJECT_ROOT / "samples" / "en_briefing.txt").read_text(encoding="utf-8")


def digest_views(api: WebhookFakeApi, chat_id: int) -> int:
    return sum(
        1
        for m in api.bot_messages(chat_id)
        if any(data.startswith("v:") for data in m.callback_data())
    )


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer 200:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


async def digest_load(
    url: str,
    api: WebhookFakeApi,
    users: list[FakeUser],
    digest_rate: float,
    status_rate: float,
    repeat: int = 1,
) -> tuple[float, dict[str, list[float]], int]:
    """Post the users' briefings at ``digest_rate``/s and /status at ``status_rate``/s until
    every digest is delivered: (seconds, ack latencies by kind, refused posts)."""
    headers = {SECRET_HEADER: SECRET}
    latencies: dict[str, list[float]] = {"briefing": [], "status": []}
    refused = 0
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(kind: str, update: dict[str, Any]) -> None:
            nonlocal refused
            started = time.perf_counter()
            try:
                response = await client.post(url, json=update, headers=headers)
                ok = response.status_code == 200
            except httpx.TransportError:
                ok = False
            latencies[kind].append(time.perf_counter() - started)
            refused += not ok

        def delivered() -> bool:
            return all(digest_views(api, u.id) for u in users)

        tasks: set[asyncio.Task[None]] = set()

        text = BRIEFING * repeat

        def spawn(kind: str, update: dict[str, Any]) -> None:
            task = asyncio.create_task(post(kind, update))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        started = time.perf_counter()
        tick = 1 / max(digest_rate, status_rate)
        next_briefing = next_status = started
        waiting = list(users)
        asker = 0
        while not delivered() and time.perf_counter() - started < 600:
            now = time.perf_counter()
            if waiting and now >= next_briefing:
                spawn("briefing", api.update(waiting.pop(0), text))
                next_briefing += 1 / digest_rate
            if now >= next_status:
                asker += 1
                spawn("status", api.update(FakeUser(FIRST_USER + asker), "/status"))
                next_status += 1 / status_rate
            await asyncio.sleep(tick / 2)
        elapsed = time.perf_counter() - started
        await asyncio.gather(*tasks)
    return elapsed, latencies, refused


def run_digest_bench(args: argparse.Namespace) -> int:
    from bot.testing.redis_server import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="digest-load-"))
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []
    redis = RedisServer(workdir) if args.backend == "redis" else None
    try:
        with WebhookFakeApi(token=TOKEN) as api:
            extra = {
                "BRIEFING_DIGEST_TELEGRAM__QUEUE_SIZE": "1000",
                "BRIEFING_DIGEST_WEBHOOK__MAX_BODY_BYTES": "1000000",
            }
            if redis is not None:
                extra |= {
                    "BRIEFING_DIGEST_QUEUE__BACKEND": "redis",
                    "BRIEFING_DIGEST_QUEUE__REDIS_URL": redis.url,
                    "BRIEFING_DIGEST_WORKERS__COUNT": "1",
                }
            else:
                extra |= {
                    "BRIEFING_DIGEST_WORKERS__COUNT": str(args.workers),
                    "BRIEFING_DIGEST_TELEGRAM__WORKERS": str(args.workers),
                }
            env = {
                **os.environ,
                **webhook_env(api, workdir / "data", port, **extra),
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": SECRET,
            }
            log_path = workdir / "bot.log"
            with log_path.open("w") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "cli.main", "bot", "--webhook"],
                    cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                ))
                if redis is not None:
                    for _ in range(args.workers):
                        processes.append(subprocess.Popen(
                            [sys.executable, "-m", "cli.main", "worker"],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                        ))
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/readyz", processes[0], log_path)
            # Warm-up: one digest per worker, so that models are loaded before the timing.
            warm = [FakeUser(FIRST_USER - 1 - i) for i in range(args.workers)]
            asyncio.run(digest_load(base + "/telegram", api, warm, 100.0, args.status_rate))
            users = [FakeUser(FIRST_USER // 2 + i) for i in range(args.digests)]
            elapsed, latencies, refused = asyncio.run(
                digest_load(
                    base + "/telegram", api, users, args.digest_rate, args.status_rate, args.repeat
                )
            )
            missing = sum(1 for u in users if digest_views(api, u.id) != 1)
            cpu = ""
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                cpu = reap(process)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        if redis is not None:
            redis.stop()
    print(f"backend               {args.backend}")
    print(f"workers               {args.workers}")
    print(
        f"digests               {args.digests} in {elapsed:.1f} s: "
        f"{args.digests / elapsed:.2f} digests/s (arriving at {args.digest_rate:g}/s)"
    )
    everything = [x for values in latencies.values() for x in values]
    for kind, values in (*latencies.items(), ("all", everything)):
        ms = [1000 * x for x in values]
        print(
            f"ack ms {kind:<14} n {len(ms):<4} p50 {percentile(ms, 0.50):.1f}  "
            f"p90 {percentile(ms, 0.90):.1f}  p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
        )
    print(f"refused posts         {refused}")
    print(f"last process CPU      {cpu}")
    print(f"digests missing or doubled: {missing}")
    return 1 if missing or refused else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000, help="distinct updates to post")
    parser.add_argument("--connections", type=int, default=20, help="concurrent connections")
    parser.add_argument(
        "--duplicates", type=float, default=0.05, help="share of updates posted twice"
    )
    parser.add_argument("--kind", choices=("status", "ignored", "digest"), default="status")
    parser.add_argument("--backend", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="digest workers (--kind digest)")
    parser.add_argument("--digests", type=int, default=60, help="briefings (--kind digest)")
    parser.add_argument(
        "--status-rate", type=float, default=20.0, help="/status posts per second (--kind digest)"
    )
    parser.add_argument(
        "--digest-rate", type=float, default=12.0, help="briefings per second (--kind digest)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="the briefing repeated this often (--kind digest)"
    )
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for replies")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    args = parser.parse_args()
    if args.kind == "digest":
        return run_digest_bench(args)

    workdir = Path(tempfile.mkdtemp(prefix="webhook-load-"))
    data_dir, log_path = workdir / "data", workdir / "bot.log"
    port = free_port()
    with WebhookFakeApi(token=TOKEN) as api:
        env = {
            **os.environ,
            **webhook_env(api, data_dir, port),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "bot", "--webhook"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    print(log_path.read_text(), file=sys.stderr)
                    return 2
                try:
                    if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)

            updates = [
                api.update(FakeUser(FIRST_USER + i), "/status", update_id=1_000_000 + i)
                for i in range(args.updates)
            ]
            if args.kind == "ignored":
                for update in updates:
                    post = update.pop("message")
                    post["chat"] = {"id": -1001234, "type": "channel", "title": "Feed"}
                    post.pop("from", None)
                    post["text"] = "an ordinary channel post"
                    update["channel_post"] = post
            rng = random.Random(5)
            again = rng.sample(updates, int(args.duplicates * len(updates)))
            posts = updates + again
            rng.shuffle(posts)
            latencies, statuses, elapsed = asyncio.run(
                post_all(base + "/telegram", posts, args.connections)
            )
            acked_ids = {u["update_id"] for u, s in zip(posts, statuses, strict=True) if s == 200}

            def replied() -> dict[int, int]:
                counts: dict[int, int] = {}
                for call in api.calls_of("sendMessage"):
                    chat = call.chat_id or 0
                    if chat >= FIRST_USER:
                        counts[chat] = counts.get(chat, 0) + 1
                return counts

            def done() -> set[int]:
                with sqlite3.connect(data_dir / "queue.sqlite3") as db:
                    return {
                        row[0]
                        for row in db.execute("SELECT update_id FROM updates WHERE state = 'done'")
                    }

            def settled() -> bool:
                if args.kind == "status":
                    return len(replied()) >= len(acked_ids)
                return acked_ids <= done()

            settle_until = time.monotonic() + args.settle
            while not settled() and time.monotonic() < settle_until:
                time.sleep(0.2)
            time.sleep(1.0)  # late duplicates would show now
            counts = replied()
            metrics = httpx.get(base + "/metrics", timeout=5).text
        finally:
            process.send_signal(signal.SIGTERM)
            cpu = reap(process)

    handled = done()
    if args.kind == "status":
        handled &= {chat - FIRST_USER + 1_000_000 for chat in counts}
    lost = acked_ids - handled
    twice = sum(1 for n in counts.values() if n > 1)
    with sqlite3.connect(data_dir / "queue.sqlite3") as db:
        stored = dict(db.execute("SELECT state, COUNT(*) FROM updates GROUP BY state"))
    refused = sum(1 for s in statuses if s != 200)
    ms = [1000 * x for x in latencies]
    received = next(
        (
            line.split()[-1]
            for line in metrics.splitlines()
            if line.startswith("briefing_digest_updates_received_total ")
        ),
        "?",
    )
    duplicates = next(
        (
            line.split()[-1]
            for line in metrics.splitlines()
            if line.startswith("briefing_digest_updates_duplicate_total ")
        ),
        "?",
    )
    print(f"kind                  {args.kind}")
    print(f"posts                 {len(posts)} ({args.updates} updates + {len(again)} repeated)")
    print(f"connections           {args.connections}")
    print(f"wall time             {elapsed:.2f} s ({len(posts) / elapsed:.0f} posts/s)")
    print(f"acknowledged (200)    {sum(1 for s in statuses if s == 200)}")
    print(f"refused / errors      {refused}")
    print(f"distinct acknowledged {len(acked_ids)}")
    print(f"handled               {len(handled)}")
    print(f"lost                  {len(lost)}")
    print(f"handled twice         {twice}")
    print(f"stored updates        {stored}")
    print(f"metrics: received {received}, duplicates {duplicates}")
    print(
        f"ack latency ms        p50 {percentile(ms, 0.50):.1f}  p90 {percentile(ms, 0.90):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms):.1f}  mean {statistics.mean(ms):.1f}"
    )
    ack = "briefing_digest_webhook_ack_seconds"
    print(
        f"server-side ack       p50 {bucket_quantile(metrics, ack, 0.5)}  "
        f"p99 {bucket_quantile(metrics, ack, 0.99)} (request in -> 200, from /metrics)"
    )
    print(f"bot process CPU       {cpu}")
    if args.keep:
        print(f"data and log kept in {workdir}")
    return 1 if lost or twice else 0


if __name__ == "__main__":
    sys.exit(main())
