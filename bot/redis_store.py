"""Chat settings, digests and their views on Redis: the sibling of ``bot/store.py``.

Every front end and worker of one bot sees the same ``/lang`` choice and the same digests
behind the language buttons. Digests and views expire after ``[queue] digest_ttl_s`` (7 days);
a button under an older digest answers "no longer available", as with SQLite's pruning.
"""

from __future__ import annotations

import json

import redis

from bot.redis_keys import Keys
from bot.rendering import RenderedDigest
from bot.store import View

_TOGGLE = """
local stored = redis.call('GET', KEYS[1])
local chosen = cjson.decode(stored or ARGV[1])
local wanted = {}
local changed = false
for _, code in ipairs(chosen) do
  if code == ARGV[2] then changed = true else wanted[code] = true end
end
if not changed then wanted[ARGV[2]] = true end
local result = {}
for _, code in ipairs({'en', 'hi', 'ru'}) do
  if wanted[code] then table.insert(result, code) end
end
if #result == 0 then return false end
local encoded = cjson.encode(result)
redis.call('SET', KEYS[1], encoded)
return encoded
"""


class RedisStore:
    """The ``Store`` interface of ``bot/store.py`` on Redis (all calls from threads)."""

    def __init__(self, client: redis.Redis, keys: Keys, digest_ttl_s: int) -> None:
        self._redis = client
        self._keys = keys
        self._ttl = digest_ttl_s
        self._toggle = client.register_script(_TOGGLE)
        # The last failed write, for /readyz; None once one works.
        self.write_error: str | None = None

    def close(self) -> None:
        self._redis.close()

    def _write(self, call: redis.commands.core.Script | object, *args: object, **kw: object
               ) -> object:
        try:
            result = call(*args, **kw)  # type: ignore[operator]
        except redis.RedisError as exc:
            self.write_error = f"Redis: {exc}"
            raise
        self.write_error = None
        return result

    # -- per-chat settings -----------------------------------------------------------------
    def chat_languages(self, chat_id: int) -> list[str] | None:
        raw = self._redis.get(self._keys.chat_languages(chat_id))
        return None if raw is None else list(json.loads(raw))

    def set_chat_languages(self, chat_id: int, languages: list[str]) -> None:
        self._write(self._redis.set, self._keys.chat_languages(chat_id), json.dumps(languages))

    def toggle_chat_language(self, chat_id: int, lang: str, current: list[str]) -> list[str] | None:
        """Add or remove ``lang`` atomically (one script), in the canonical order."""
        result = self._write(
            self._toggle,
            keys=[self._keys.chat_languages(chat_id)],
            args=[json.dumps(list(current)), lang],
        )
        return None if result is None else list(json.loads(result))  # type: ignore[arg-type]

    # -- digests ---------------------------------------------------------------------------
    def save_digest(self, digest: RenderedDigest, chat_id: int) -> None:
        self._write(self._redis.set, self._keys.digest(digest.id), digest.to_json(), ex=self._ttl)

    def digest(self, digest_id: str) -> RenderedDigest | None:
        raw = self._redis.get(self._keys.digest(digest_id))
        return None if raw is None else RenderedDigest.from_json(raw.decode("utf-8"))

    # -- views -------------------------------------------------------------------------------
    def save_view(self, view: View) -> None:
        payload = json.dumps(
            {
                "digest_id": view.digest_id,
                "chat_id": view.chat_id,
                "message_ids": view.message_ids,
                "lang": view.lang,
            }
        )
        self._write(self._redis.set, self._keys.view(view.id), payload, ex=self._ttl)

    def view(self, view_id: str) -> View | None:
        raw = self._redis.get(self._keys.view(view_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return View(view_id, data["digest_id"], data["chat_id"], data["message_ids"], data["lang"])
