"""Per-user rate limit on Redis: the sibling of ``bot/ratelimit.py``, shared by every front end.

The same sliding one-minute window, kept as a sorted set of grant times per user; checking
and recording are one script, so requests reaching two front ends at once cannot both pass.
"""

from __future__ import annotations

import secrets
import time

import redis.asyncio as aioredis

from bot.ratelimit import WINDOW_S
from bot.redis_keys import Keys

_ACQUIRE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window))
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(window - (now - tonumber(oldest[2])))
"""


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, keys: Keys, per_minute: int) -> None:
        self._redis = client
        self._keys = keys
        self._limit = per_minute
        self._acquire = client.register_script(_ACQUIRE)

    async def take(self, user_id: int) -> float:
        """0 if granted (and recorded), else the seconds to wait."""
        wait = await self._acquire(
            keys=[self._keys.rate(user_id)],
            args=[time.time(), WINDOW_S, self._limit, secrets.token_hex(8)],
        )
        return max(0.0, float(wait))

    async def give_back(self, user_id: int) -> None:
        """Return the last grant (the job was refused after all)."""
        await self._redis.zpopmax(self._keys.rate(user_id))
