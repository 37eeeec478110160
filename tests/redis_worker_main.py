"""``briefing-digest worker`` with the test engine of :mod:`tests.workers_support` (a script
for the Redis tests: ``python -m tests.redis_worker_main``). The same ``serve_worker`` as the
command; only the pipeline factory differs, so that a job can hang, hog memory or sleep."""

from __future__ import annotations

import asyncio
import logging
import os

from bot.app import protect_logs, token_from_env
from bot.redis_worker import serve_worker
from settings import load_settings
from tests.workers_support import behaving_pipeline

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    token = token_from_env()
    protect_logs(token)
    asyncio.run(serve_worker(load_settings(environ=dict(os.environ)), token,
                             factory=behaving_pipeline))
