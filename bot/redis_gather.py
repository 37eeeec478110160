"""Paste gathering on Redis: the parts of one paste may reach different front ends.

The sibling of :class:`bot.gather.PasteGatherer`, with the same rule: text messages from one
user in one chat, each within ``window`` seconds of the last, are one briefing. Each part is
kept in a hash per (chat, user), keyed by its update (a part handled again is not added
twice), and the paste's "complete at" time in a sorted set. Every front end looks for
complete pastes a few times a second; one script hands each paste to exactly one of them,
which submits it like the in-memory gatherer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from telegram import Bot, Message

from bot.gather import Flush, Paste
from bot.redis_keys import Keys

log = logging.getLogger(__name__)

# A paste nobody completes (every front end gone) is forgotten after this long; its parts'
# updates are not done, so they are gathered again when they are handed on again.
PASTE_TTL_S = 24 * 3600
# How often each front end looks for complete pastes, at most and at least.
TICK_MAX_S = 0.25
TICK_MIN_S = 0.02

# Take a paste: only if it is due (a part added meanwhile pushed its time on) or dropped.
_TAKE = """
if ARGV[2] == '0' then
  local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not due or tonumber(due) > tonumber(ARGV[3]) then return {} end
end
redis.call('ZREM', KEYS[1], ARGV[1])
local parts = redis.call('HVALS', ARGV[1])
redis.call('DEL', ARGV[1])
return parts
"""


class RedisPasteGatherer:
    def __init__(self, client: aioredis.Redis, keys: Keys, window: float, flush: Flush,
                 bot: Bot) -> None:
        self._redis = client
        self._keys = keys
        self._window = window
        self._flush = flush
        self._bot = bot
        self._take = client.register_script(_TAKE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def add(self, message: Message, text: str, update_id: int | None = None) -> None:
        if message.from_user is None:
            return
        key = self._keys.paste(message.chat_id, message.from_user.id)
        part = json.dumps(
            {"update_id": update_id, "text": text, "message": message.to_dict()},
            ensure_ascii=False,
        )
        field = str(update_id if update_id is not None else f"m{message.message_id}")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, field, part)
            pipe.expire(key, PASTE_TTL_S)
            pipe.zadd(self._keys.pastes, {key: time.time() + self._window})
            await pipe.execute()

    async def drop(self, chat_id: int, user_id: int) -> Paste | None:
        """Forget a paste still being gathered (/cancel); returns it if there was one."""
        key = self._keys.paste(chat_id, user_id)
        return self._paste(key, await self._take(keys=[self._keys.pastes], args=[key, 1, 0]))

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    async def _sweep(self) -> None:
        tick = max(TICK_MIN_S, min(TICK_MAX_S, self._window / 4))
        while True:
            try:
                await self._flush_due()
            except Exception as exc:
                log.warning("cannot look for complete pastes in Redis (%s)", exc)
                await asyncio.sleep(1.0)
            await asyncio.sleep(tick)

    async def _flush_due(self) -> None:
        now = time.time()
        for raw_key in await self._redis.zrangebyscore(self._keys.pastes, "-inf", now):
            key = raw_key.decode("utf-8") if isinstance(raw_key, bytes) else str(raw_key)
            paste = self._paste(key, await self._take(keys=[self._keys.pastes], args=[key, 0, now]))
            if paste is not None:
                task = asyncio.get_running_loop().create_task(self._hand_on(paste))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _hand_on(self, paste: Paste) -> None:
        try:
            await self._flush(paste)
        except Exception:
            log.exception("handing on a gathered paste failed")

    def _paste(self, key: str, raw_parts: list[Any]) -> Paste | None:
        if not raw_parts:
            return None
        parts = [json.loads(raw) for raw in raw_parts]
        messages = [Message.de_json(part["message"], self._bot) for part in parts]
        first = min(messages, key=lambda m: m.message_id)
        assert first.from_user is not None
        paste = Paste((first.chat_id, first.from_user.id), first=first)
        for part, message in zip(parts, messages, strict=True):
            paste.parts.append((message.message_id, part["text"]))
            if part["update_id"] is not None:
                paste.update_ids.append(int(part["update_id"]))
        return paste
