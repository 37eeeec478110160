"""Delivery leases of the Redis source store: which front end posts a source's outbox.

A lease is ``<prefix>:follow:deliver:<id>`` = owner, with a TTL. It is taken when the owner
first looks at the source's outbox and kept, by a thread refreshing it every third of its TTL,
while the owner lives, however long a digest takes; :meth:`DeliveryLeases.release_all` hands
them on at a clean stop, and a dead owner's run out after ``lease_s``.
"""

from __future__ import annotations

import logging
import threading

import redis

from sources import redis_lua

log = logging.getLogger(__name__)


class DeliveryLeases:
    def __init__(self, client: redis.Redis, prefix: str, owner: str, lease_s: float) -> None:
        self._redis = client
        self._prefix = prefix
        self._owner = owner
        self._lease_ms = max(1, int(lease_s * 1000))
        self._hold_script = client.register_script(redis_lua.HOLD)
        self._release_script = client.register_script(redis_lua.RELEASE)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def _key(self, source_id: str) -> str:
        return f"{self._prefix}deliver:{source_id}"

    def hold(self, source_id: str) -> bool:
        """True if this owner delivers the source (the lease taken now or already held)."""
        if not self._hold_script(keys=[self._key(source_id)], args=[self._owner, self._lease_ms]):
            with self._lock:
                self._held.discard(source_id)
            return False
        with self._lock:
            self._held.add(source_id)
            if self._refresher is None:
                self._refresher = threading.Thread(
                    target=self._refresh_loop, name="follow-delivery-leases", daemon=True
                )
                self._refresher.start()
        return True

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._lease_ms / 3000):
            with self._lock:
                held = list(self._held)
            for source_id in held:
                try:
                    self.hold(source_id)
                except redis.RedisError as exc:
                    log.warning("cannot refresh the delivery lease of %s: %s", source_id, exc)

    def release_all(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(10)
        with self._lock:
            held, self._held = list(self._held), set()
        for source_id in held:
            self._release_script(keys=[self._key(source_id)], args=[self._owner])
