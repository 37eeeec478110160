"""The source store on Redis, for ``[queue] backend = "redis"``: the sibling of
:mod:`sources.sqlite_store`, with the same semantics, shared by every front end of one bot.

Every write is one Lua script (:mod:`sources.redis_lua`), so it is all or nothing like the
SQLite store's transactions: ``claim_due`` leases due sources atomically (a source is fetched
by one front end), ``record_check`` writes the state, the seen items and the outbox together.

What SQLite does not need: with several front ends each would deliver the same outbox. So
:meth:`RedisSourceStore.outbox` hands out only the entries of sources whose *delivery lease*
this store's owner holds (``sources/redis_leases.py``: ``SET NX PX``, kept while the front end
lives, released when it stops, run out after a crash): one front end digests and posts a
source's items, in order, and an entry leaves the outbox only once delivered (``done``), so
nothing owed is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import redis

from digest.changes import BriefingRecord
from sources import redis_lua
from sources.model import (
    AddOutcome,
    CheckRecord,
    Health,
    Item,
    OutboxEntry,
    OutboxKind,
    SourceSpec,
    SourceState,
    Subscription,
)
from sources.redis_leases import DeliveryLeases
from sources.safe_fetch import Validators
from sources.sqlite_store import SEEN_KEEP_S
from sources.store import ItemDigest


class RedisSourceStore:
    """``owner``: this front end, unique among them; ``delivery_lease_s``: how long a dead
    front end's sources wait before another front end posts them."""

    def __init__(
        self, client: redis.Redis, prefix: str, owner: str, delivery_lease_s: float = 60.0
    ) -> None:
        self._redis = client
        self._p = f"{prefix}:follow:"
        self._follow = client.register_script(redis_lua.FOLLOW)
        self._unfollow = client.register_script(redis_lua.UNFOLLOW)
        self._claim = client.register_script(redis_lua.CLAIM_DUE)
        self._record = client.register_script(redis_lua.RECORD_CHECK)
        self._done = client.register_script(redis_lua.DONE)
        self._leases = DeliveryLeases(client, self._p, owner, delivery_lease_s)

    def close(self) -> None:
        """Hands the sources this owner delivers to the other front ends at once."""
        self._leases.release_all()
        self._redis.close()

    # -- subscriptions ----------------------------------------------------------------------
    def follow(self, spec: SourceSpec, sub: Subscription, max_per_chat: int) -> AddOutcome:
        args = [
            self._p, spec.id, spec.url, spec.pattern or "", repr(spec.interval_s),
            sub.chat_id, repr(time.time()), max_per_chat,
        ]
        return AddOutcome(_text(self._follow(keys=[], args=args)))

    def unfollow(self, chat_id: int, source_id: str) -> bool:
        return bool(self._unfollow(keys=[], args=[self._p, chat_id, source_id]))

    def following(self, chat_id: int) -> list[SourceState]:
        ids = [_text(i) for i in self._redis.zrange(f"{self._p}subs:{chat_id}", 0, -1)]
        return self._states(ids)

    def followers(self, source_id: str) -> list[int]:
        return [int(c) for c in self._redis.zrange(f"{self._p}fol:{source_id}", 0, -1)]

    # -- checks -----------------------------------------------------------------------------
    def claim_due(
        self, now: float, owner: str, lease_s: float, limit: int, *, everything: bool = False
    ) -> list[SourceState]:
        due_by = "+inf" if everything else repr(now)
        args = [self._p, due_by, repr(now), owner, repr(now + lease_s), limit]
        ids = [_text(i) for i in self._claim(keys=[], args=args)]
        return self._states(ids)

    def seen(self, source_id: str, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.zscore(f"{self._p}seen:{source_id}", key)
        return {key for key, score in zip(keys, pipe.execute(), strict=True) if score is not None}

    def record_check(self, record: CheckRecord, owner: str) -> None:
        state, now = record.state, time.time()
        notice = record.notice.value if record.notice is not None else ""
        capped = json.dumps({"skipped": record.skipped, "truncated": record.truncated})
        args: list[Any] = [
            self._p, state.id, owner, repr(now), repr(now - SEEN_KEEP_S),
            repr(state.next_check), _state_json(state),
            json.dumps(asdict(state.newest)) if state.newest else "",
            int(state.initialised), notice, f"{now:.6f}", record.notice_detail, capped,
            len(record.seen_keys), *record.seen_keys,
        ]
        for item in record.new_items:
            args += [item.key, json.dumps(asdict(item))]
        self._record(keys=[], args=args)

    # -- what followers are owed ------------------------------------------------------------
    def outbox(self, limit: int) -> list[OutboxEntry]:
        """The oldest entries of the sources this owner delivers (their lease taken or
        refreshed here); other front ends' sources are skipped."""
        ids = self._redis.zrange(f"{self._p}ob", 0, -1)
        entries: list[OutboxEntry] = []
        held: dict[str, bool] = {}
        for raw_id in ids:
            if len(entries) >= limit:
                break
            raw = self._redis.hgetall(f"{self._p}ob:{_text(raw_id)}")
            row = {_text(k): _text(v) for k, v in raw.items()}
            if not row:
                continue
            source = row["source"]
            if source not in held:
                held[source] = self._leases.hold(source)
            if held[source]:
                entries.append(
                    OutboxEntry(
                        int(_text(raw_id)),
                        OutboxKind(row["kind"]),
                        source,
                        int(row["chat"]),
                        Item(**json.loads(row["item"])) if row["item"] else None,
                        row["detail"],
                    )
                )
        return entries

    def done(self, entry_id: int) -> None:
        self._done(keys=[], args=[self._p, entry_id])

    def item_digest(self, source_id: str, item: Item) -> ItemDigest | None:
        raw = self._redis.hget(f"{self._p}items:{source_id}", item.key)
        if raw is None:
            return None
        ref, content_hash = json.loads(raw)
        return ItemDigest(ref, content_hash)

    def save_item_digest(self, source_id: str, item: Item, digest: ItemDigest) -> None:
        pipe = self._redis.pipeline(transaction=True)
        made = json.dumps([digest.ref, digest.content_hash])
        pipe.hset(f"{self._p}items:{source_id}", item.key, made)
        pipe.sadd(f"{self._p}hashes:{source_id}", digest.content_hash)
        pipe.execute()

    def is_duplicate(self, source_id: str, content_hash: str) -> bool:
        return bool(self._redis.sismember(f"{self._p}hashes:{source_id}", content_hash))

    def previous_briefing(self, source_id: str) -> BriefingRecord | None:
        raw = self._redis.hget(f"{self._p}src:{source_id}", "briefing")
        return BriefingRecord.from_json(_text(raw)) if raw else None

    def save_briefing(self, source_id: str, record: BriefingRecord) -> None:
        key = f"{self._p}src:{source_id}"
        # Not for a source forgotten meanwhile (the SQLite UPDATE touches no row either).
        if self._redis.exists(key):
            self._redis.hset(key, "briefing", record.to_json())

    def _states(self, ids: Sequence[str]) -> list[SourceState]:
        pipe = self._redis.pipeline(transaction=False)
        for source_id in ids:
            pipe.hgetall(f"{self._p}src:{source_id}")
        states = []
        for raw in pipe.execute():
            if raw:
                states.append(_state({_text(k): _text(v) for k, v in raw.items()}))
        return states


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _state_json(state: SourceState) -> str:
    return json.dumps(
        {
            "etag": state.validators.etag,
            "last_modified": state.validators.last_modified,
            "failures": state.failures,
            "failing_since": state.failing_since,
            "health": state.health.value,
            "last_check": state.last_check,
            "last_error": state.last_error,
        }
    )


def _state(row: dict[str, str]) -> SourceState:
    data = json.loads(row.get("state") or "{}")
    newest = row.get("newest")
    return SourceState(
        spec=SourceSpec(row["url"], row["pattern"] or None, float(row["interval_s"])),
        validators=Validators(data.get("etag"), data.get("last_modified")),
        next_check=float(row["next_check"]),
        failures=int(data.get("failures", 0)),
        failing_since=data.get("failing_since"),
        health=Health(data.get("health", Health.OK.value)),
        last_check=data.get("last_check"),
        last_error=data.get("last_error"),
        newest=Item(**json.loads(newest)) if newest else None,
        initialised=row.get("initialised") == "1",
    )
