"""The update ledger on Redis: each update handled once across all front ends.

The sibling of :class:`bot.durable_queue.SqliteUpdateLedger` (the contract is
``UpdateLedger`` in ``bot/updates.py``). An update is a hash (payload, state, attempts); the
updates not done are a sorted set by arrival. A front end **claims** an update before it
handles it: a key with its own token that expires (``CLAIM_TTL_S``), so that two front ends
never handle one update at once, and one that died lets go of it. The *done* mark of updates
that become a job is written by the job's own submission (``bot/redis_queue.py``), in the same
script as the job.

Updates stored or claimed by a front end that stopped or died before they were done are
handed on again by whichever front end looks next (:meth:`RedisUpdateLedger.unfinished`, at
start and every ``REPLAY_EVERY_S``), once their claim has gone.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bot.redis_keys import Keys
from bot.redis_queue import KEEP_UPDATES_S
from bot.update_claims import ClaimingLedger, UpdateVerdict

log = logging.getLogger(__name__)

# A claim outlives any handling (the handlers only queue and answer; a paste part's claim
# must last while the paste is gathered): a front end that died lets go after this long.
CLAIM_TTL_S = 120

_STORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'payload', ARGV[1], 'state', 'new', 'attempts', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
return 1
"""

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'payload', ARGV[1], 'state', 'new', 'attempts', 0)
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
end
if redis.call('HGET', KEYS[1], 'state') == 'done' then return 'done' end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[4] then return 'busy' end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts >= tonumber(ARGV[6]) then
  redis.call('HSET', KEYS[1], 'state', 'done')
  redis.call('EXPIRE', KEYS[1], ARGV[7])
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 'poison'
end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5])
return 'handle'
"""

_FINISH = """
for i, id in ipairs(ARGV) do
  if i > 1 then
    local key = KEYS[2] .. id
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'state', 'done')
      redis.call('EXPIRE', key, ARGV[1])
    end
    redis.call('DEL', key .. ':claim')
    redis.call('ZREM', KEYS[1], id)
  end
end
return 1
"""

_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'new' then
  local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
  if attempts > 0 then redis.call('HSET', KEYS[1], 'attempts', attempts - 1) end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

# Updates not done whose claim has gone: taken (claimed by the caller) and returned.
_ORPHANS = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
local found = {}
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  if redis.call('EXISTS', key .. ':claim') == 0 then
    local payload = redis.call('HGET', key, 'payload')
    if payload and redis.call('HGET', key, 'state') == 'new' then
      table.insert(found, id)
      table.insert(found, payload)
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
return found
"""
# At most this many orphaned updates are handed on per look.
REPLAY_BATCH = 500


class RedisUpdateLedger(ClaimingLedger):
    """``UpdateLedger`` on Redis, shared by every front end of one bot."""

    def __init__(self, client: aioredis.Redis, keys: Keys, max_attempts: int = 3) -> None:
        super().__init__(max_attempts)
        self._redis = client
        self._keys = keys
        # This front end's claims carry its token.
        self._token = secrets.token_hex(8)
        self._store = client.register_script(_STORE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)
        self._orphans = client.register_script(_ORPHANS)
        # Interrupted by a stop: their claims are let go at close, for another front end.
        self._abandoned: set[int] = set()

    def _update_keys(self, update_id: int) -> list[str]:
        keys = self._keys
        return [keys.update(update_id), keys.updates_new, keys.update_claim(update_id)]

    async def _write_update(self, update_id: int, payload: str) -> bool:
        fresh = await self._store(
            keys=self._update_keys(update_id),
            args=[payload, time.time(), update_id, self._token, CLAIM_TTL_S],
        )
        return bool(fresh)

    async def _claim_update(self, update_id: int, payload: str) -> UpdateVerdict:
        verdict = await self._claim(
            keys=self._update_keys(update_id),
            args=[
                payload,
                time.time(),
                update_id,
                self._token,
                CLAIM_TTL_S,
                self._max_attempts,
                KEEP_UPDATES_S,
            ],
        )
        return UpdateVerdict(_text(verdict))

    async def _write_finished(self, update_id: int) -> None:
        await self._mark_done([update_id])

    async def _write_settled(self, update_ids: Sequence[int]) -> None:
        await self._mark_done(update_ids)

    async def _write_released(self, update_id: int) -> None:
        keys = self._keys
        await self._release(
            keys=[keys.update(update_id), keys.update_claim(update_id)], args=[self._token]
        )

    def abandon(self, update_id: int) -> None:
        # Let go at close (a front end killed meanwhile lets go when the claim expires).
        super().abandon(update_id)
        self._abandoned.add(update_id)

    async def unfinished(self, older_than_s: float = 0.0) -> list[tuple[int, str]]:
        """Updates not done that no front end holds (claims expired or let go), claimed now by
        this one, oldest first."""
        found = await self._orphans(
            keys=[self._keys.updates_new],
            args=[time.time() - older_than_s, self._keys.update(""), self._token, REPLAY_BATCH],
        )
        pairs = [(int(found[i]), _text(found[i + 1])) for i in range(0, len(found), 2)]
        return [(uid, payload) for uid, payload in pairs if uid not in self._in_flight]

    async def _mark_done(self, update_ids: Sequence[int]) -> None:
        if update_ids:
            await self._finish(
                keys=[self._keys.updates_new, self._keys.update("")],
                args=[KEEP_UPDATES_S, *update_ids],
            )

    async def aclose(self) -> None:
        """Let go of the updates this front end was handling and of paste parts not yet a
        job: another front end hands them on (the parts are gathered in Redis already)."""
        held = self._abandoned | self._in_flight | self._claimed
        try:
            if held:
                await self._redis.delete(*(self._keys.update_claim(u) for u in held))
        except RedisError as exc:
            # Their claims expire by themselves (CLAIM_TTL_S): handed on a little later.
            log.warning("cannot let go of %d update(s) in Redis (%s)", len(held), exc)
        finally:
            await self._redis.aclose()


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
