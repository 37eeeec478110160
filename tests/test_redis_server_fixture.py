"""The test Redis server never hands out another process's server (a port race between the
parallel test workers)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.testing import redis_server as module
from tests.redis_server import RedisServer


def test_a_taken_port_is_noticed_and_another_is_used(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = redis_server.port
    real_socket = socket.socket
    offered: list[int] = []

    class FirstOffersTakenPort(real_socket):  # type: ignore[misc]
        def getsockname(self):  # type: ignore[no-untyped-def]
            host, port = super().getsockname()
            if not offered:
                port = taken  # what a race with the other worker looks like
            offered.append(port)
            return host, port

    monkeypatch.setattr(module.socket, "socket", FirstOffersTakenPort)
    second = RedisServer(tmp_path)
    try:
        assert offered[0] == taken and second.port != taken
        assert second.process.poll() is None
    finally:
        second.stop()
    # The first server was left alone.
    assert redis_server.process.poll() is None
