"""The Lua scripts of :mod:`sources.redis_store`: each write is one script, so all or nothing.

Keys are built inside the scripts from the prefix (``ARGV[1]``): the store needs one Redis
server (or a primary), not a Cluster. Layout under ``<prefix>``:

* ``src:<id>`` hash: url, pattern, interval_s, next_check, state (JSON), newest (JSON),
  initialised, lease_owner, lease_until, briefing;
* ``due`` sorted set: source id -> next_check;
* ``subs:<chat>`` / ``fol:<id>`` sorted sets: a chat's sources / a source's chats, by the
  order they were followed (``seq``);
* ``seen:<id>`` sorted set: item key -> when last listed;
* ``items:<id>`` hash: item key -> JSON [ref, content hash]; ``hashes:<id>`` set;
* ``ob`` sorted set of outbox ids; ``ob:<n>`` hash (kind, source, chat, item, detail, uniq);
  ``obsrc:<id>`` set of a source's outbox ids; ``obuniq`` hash: what makes an entry unique ->
  its id (the SQLite table's UNIQUE (kind, source_id, chat_id, key)).
"""

from __future__ import annotations

_COMMON = """
local p = ARGV[1]
local function owe(kind, source, chats, key, item, detail)
  for _, chat in ipairs(chats) do
    local uniq = kind .. '|' .. source .. '|' .. chat .. '|' .. key
    if redis.call('HEXISTS', p .. 'obuniq', uniq) == 0 then
      local n = redis.call('INCR', p .. 'obseq')
      redis.call('HSET', p .. 'ob:' .. n, 'kind', kind, 'source', source, 'chat', chat,
                 'item', item, 'detail', detail, 'uniq', uniq)
      redis.call('ZADD', p .. 'ob', n, n)
      redis.call('SADD', p .. 'obsrc:' .. source, n)
      redis.call('HSET', p .. 'obuniq', uniq, n)
    end
  end
end
local function drop_entry(n)
  local e = p .. 'ob:' .. n
  local uniq = redis.call('HGET', e, 'uniq')
  local source = redis.call('HGET', e, 'source')
  if uniq then redis.call('HDEL', p .. 'obuniq', uniq) end
  if source then redis.call('SREM', p .. 'obsrc:' .. source, n) end
  redis.call('DEL', e)
  redis.call('ZREM', p .. 'ob', n)
end
"""

# ARGV: prefix, id, url, pattern, interval_s, chat, now, max_per_chat
FOLLOW = _COMMON + """
local id, chat, now = ARGV[2], ARGV[6], tonumber(ARGV[7])
local interval = tonumber(ARGV[5])
if redis.call('ZSCORE', p .. 'subs:' .. chat, id) then return 'already' end
if redis.call('ZCARD', p .. 'subs:' .. chat) >= tonumber(ARGV[8]) then return 'limit' end
local src = p .. 'src:' .. id
if redis.call('EXISTS', src) == 0 then
  redis.call('HSET', src, 'url', ARGV[3], 'pattern', ARGV[4], 'interval_s', ARGV[5],
             'next_check', '0', 'initialised', '0', 'lease_until', '0')
  redis.call('ZADD', p .. 'due', 0, id)
end
if interval < tonumber(redis.call('HGET', src, 'interval_s')) then
  redis.call('HSET', src, 'interval_s', ARGV[5])
end
local next_check = tonumber(redis.call('HGET', src, 'next_check'))
if now + interval < next_check then
  redis.call('HSET', src, 'next_check', now + interval)
  redis.call('ZADD', p .. 'due', now + interval, id)
end
local seq = redis.call('INCR', p .. 'seq')
redis.call('ZADD', p .. 'subs:' .. chat, seq, id)
redis.call('ZADD', p .. 'fol:' .. id, seq, chat)
local newest = redis.call('HGET', src, 'newest')
if redis.call('HGET', src, 'initialised') == '1' and newest and newest ~= '' then
  local key = cjson.decode(newest)['key']
  owe('item', id, {chat}, key, newest, '')
end
return 'added'
"""

# ARGV: prefix, chat, id
UNFOLLOW = _COMMON + """
local chat, id = ARGV[2], ARGV[3]
local gone = redis.call('ZREM', p .. 'subs:' .. chat, id)
redis.call('ZREM', p .. 'fol:' .. id, chat)
for _, n in ipairs(redis.call('SMEMBERS', p .. 'obsrc:' .. id)) do
  if redis.call('HGET', p .. 'ob:' .. n, 'chat') == chat then drop_entry(n) end
end
if redis.call('ZCARD', p .. 'fol:' .. id) == 0 then
  for _, n in ipairs(redis.call('SMEMBERS', p .. 'obsrc:' .. id)) do drop_entry(n) end
  redis.call('DEL', p .. 'src:' .. id, p .. 'seen:' .. id, p .. 'items:' .. id,
             p .. 'hashes:' .. id, p .. 'obsrc:' .. id)
  redis.call('ZREM', p .. 'due', id)
end
return gone
"""

# ARGV: prefix, due_by ('inf' for everything), now, owner, lease_until, limit
CLAIM_DUE = _COMMON + """
local now, owner, limit = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[6])
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'due', '-inf', ARGV[2])) do
  if #claimed >= limit then break end
  local src = p .. 'src:' .. id
  local holder = redis.call('HGET', src, 'lease_owner')
  local untl = tonumber(redis.call('HGET', src, 'lease_until') or '0')
  if untl <= now or holder == owner then
    redis.call('HSET', src, 'lease_owner', owner, 'lease_until', ARGV[5])
    table.insert(claimed, id)
  end
end
return claimed
"""

# ARGV: prefix, id, owner, now, keep_since, next_check, state, newest, initialised,
#       notice kind ('' none), notice key, notice detail, capped detail, n seen, seen...,
#       then item keys and item JSON pairs
RECORD_CHECK = _COMMON + """
local id, owner, now = ARGV[2], ARGV[3], ARGV[4]
local src = p .. 'src:' .. id
if redis.call('EXISTS', src) == 0 then return 0 end
local holder = redis.call('HGET', src, 'lease_owner')
if not holder or holder == '' or holder == owner then
  redis.call('HSET', src, 'next_check', ARGV[6], 'state', ARGV[7], 'newest', ARGV[8],
             'initialised', ARGV[9], 'lease_owner', '', 'lease_until', '0')
  redis.call('ZADD', p .. 'due', ARGV[6], id)
end
local n_seen = tonumber(ARGV[14])
for i = 1, n_seen do redis.call('ZADD', p .. 'seen:' .. id, now, ARGV[14 + i]) end
if n_seen > 0 then
  redis.call('ZREMRANGEBYSCORE', p .. 'seen:' .. id, '-inf', '(' .. ARGV[5])
end
local chats = redis.call('ZRANGE', p .. 'fol:' .. id, 0, -1)
local notice = ARGV[10]
if notice ~= '' and notice ~= 'capped' then owe(notice, id, chats, ARGV[11], '', ARGV[12]) end
local i = 15 + n_seen
while i < #ARGV do
  owe('item', id, chats, ARGV[i], ARGV[i + 1], '')
  i = i + 2
end
if notice == 'capped' then owe('capped', id, chats, ARGV[11], '', ARGV[13]) end
return 1
"""

# ARGV: prefix, entry id
DONE = _COMMON + """
drop_entry(ARGV[2])
return 1
"""

# KEYS: a delivery lease; ARGV: its owner. Deleted only if that owner still holds it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: a delivery lease; ARGV: owner, milliseconds. Taken if free, refreshed if the owner's.
HOLD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
