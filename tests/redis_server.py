"""The ``redis_server`` fixture: a real ``redis-server`` (bot/testing/redis_server.py) per test
that asks for it. No fakeredis: the scripts and expiries are Redis's own.

Without ``redis-server`` on the PATH the tests that need it are skipped on a laptop and fail
in CI (``CI=true``), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.testing.redis_server import RedisServer, RedisServerMissingError

__all__ = ["RedisServer", "redis_server"]


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except RedisServerMissingError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"{exc}; CI is set, so the Redis tests fail", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
