"""``briefing-digest worker --processes N``: N worker processes on one machine, one /metrics.

Each process is a whole Redis worker (``bot/redis_worker.py``: its own arq worker, Bot API
client and digest pool). Their counters and histograms are kept with prometheus_client's
**multiprocess mode**: every process writes its metrics to files in one directory
(``PROMETHEUS_MULTIPROC_DIR``, a fresh temporary directory unless set), and this parent
serves the sum on ``[metrics] listen:port``. A process that dies is replaced (its files are
merged into the totals); SIGTERM is passed on to all, which stop as one worker does.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from settings.schema import Settings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A process that dies is replaced after this pause (a crash loop does not spin).
RESTART_PAUSE_S = 2.0


def _child(settings: Settings, token: str, log_level: int) -> None:
    import asyncio

    from bot.app import protect_logs
    from bot.redis_worker import serve_worker

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    protect_logs(token)
    asyncio.run(serve_worker(settings, token))


def run_worker_group(settings: Settings, token: str, processes: int) -> int:
    own_dir = MULTIPROC_ENV not in os.environ
    directory = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="briefing-digest-metrics-")
    os.environ[MULTIPROC_ENV] = directory  # the children inherit it
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    server = None
    if settings.metrics.port:
        server, _ = start_http_server(
            settings.metrics.port, settings.metrics.listen, registry=registry
        )
        log.info("metrics of %d worker processes at http://%s:%d/metrics", processes,
                 settings.metrics.listen, server.server_port)
    ctx = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    stopping = threading.Event()

    def start() -> BaseProcess:
        process = ctx.Process(target=_child, args=(settings, token, level), name="worker")
        process.start()
        return process

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    children = [start() for _ in range(processes)]
    try:
        while not stopping.is_set():
            ready = wait([c.sentinel for c in children], timeout=0.5)
            for child in [c for c in children if c.sentinel in ready]:
                child.join()
                mark_process_dead(child.pid, directory)
                if stopping.is_set():
                    break
                log.error("worker process %s exited (%s); replacing it", child.pid,
                          child.exitcode)
                time.sleep(RESTART_PAUSE_S)
                children[children.index(child)] = start()
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + settings.webhook.shutdown_grace_s + 20
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
    return 0
