"""A real ``redis-server`` for tests and benchmarks: a free loopback port, a temporary
directory, no persistence; :meth:`RedisServer.stop` ends it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


class RedisServerMissingError(FileNotFoundError):
    """No ``redis-server`` on the PATH."""


_START_TRIES = 5


class RedisServer:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerMissingError(
                "redis-server is not installed (Debian: apt-get install -y redis-server)"
            )
        self.log = directory / "redis.log"
        # The free port is found before redis-server binds it, so another process (a parallel
        # test worker's server) may take it first; then our server exits and a probe
        # would reach theirs. Each try asks the server that answers for its process id.
        for _ in range(_START_TRIES):
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = int(sock.getsockname()[1])
            self.url = f"redis://127.0.0.1:{self.port}/0"
            self.process = subprocess.Popen(
                [
                    binary,
                    "--bind", "127.0.0.1",
                    "--port", str(self.port),
                    "--dir", str(directory),
                    "--save", "",
                    "--appendonly", "no",
                    "--logfile", str(self.log),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return
            self.stop()
        raise AssertionError(f"redis-server did not start:\n{self.log.read_text()}")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        """Our server answers on our port (False: it exited, the port was taken)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"INFO server\r\n")
                    reply = conn.recv(65536)
                    if f"process_id:{self.process.pid}\r\n".encode() in reply:
                        return True
                    if reply.startswith(b"$"):
                        return False  # another redis-server holds the port
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
