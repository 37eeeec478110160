"""The job queue on Redis: front ends queue jobs, ``briefing-digest worker`` processes run them.

:class:`RedisJobQueue` is the ``JobQueue`` of ``bot/jobs.py`` for ``[queue] backend =
"redis"``, the sibling of ``bot/durable_queue.py``. It keeps the job's record (a hash: state,
attempts, status message, delivery, cancel flag) and hands the job to **arq**, which delivers
it to one worker at a time with a lease (docs/deploy.md):

* **submit** is one Lua script: the de-duplication by ``update_id`` (an update already made
  into a job is not queued again), the queue-size limit, the job's record, the *done* mark of
  the updates it answers, and arq's own job key and queue entry. Either all of it is written
  or none: an update becomes a job exactly once, and an acknowledged job is always in arq's
  queue.
* **attempts** (:meth:`begin_attempt`, in a worker): one Lua script checks that the job is
  still wanted, that its user has no other job running (one at a time, oldest first), takes
  the user's slot for the job's lease, and counts the attempt before the job runs (a worker
  killed during it has used it).
* **cancel**: a waiting job is taken out of arq's queue at once; a running one gets its
  ``cancel`` flag set, which its worker polls.

The front end never runs jobs: ``start`` and ``stop`` only refresh the counts that
``/readyz`` and ``/metrics`` read (kept in memory, so the event loop never waits for Redis).
"""

from __future__ import annotations

import logging
import threading
import time
from enum import StrEnum

import redis
from arq.constants import job_key_prefix
from arq.jobs import serialize_job

from bot.jobs import (
    Cancellation,
    DeliveryState,
    Job,
    JobState,
    Outcome,
    QueueFullError,
    QueueSnapshot,
)
from bot.redis_keys import DIGEST_FUNCTION, Keys

log = logging.getLogger(__name__)

# Finished jobs' records, and updates' de-duplication marks, are kept this long.
KEEP_JOBS_S = 7 * 24 * 3600
KEEP_UPDATES_S = 48 * 3600
# arq drops a job not started within this long of being queued (its own default: a day).
EXPIRE_WAITING_MS = 24 * 3600 * 1000
# How often the counts for /readyz and /metrics are read.
SNAPSHOT_EVERY_S = 1.0

_SUBMIT = """
local n = tonumber(ARGV[10])
for i = 1, n do
  local existing = redis.call('GET', KEYS[7 + i])
  if existing then return {'exists', existing} end
end
local waiting = redis.call('ZCARD', KEYS[1])
if waiting >= tonumber(ARGV[1]) then return {'full', ''} end
local seq = redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[2], 'payload', ARGV[3], 'user_id', ARGV[4], 'chat_id', ARGV[5],
  'state', 'queued', 'attempts', 0, 'seq', seq, 'created', ARGV[6], 'delivery', 'none')
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
redis.call('PSETEX', KEYS[4], ARGV[8], ARGV[7])
redis.call('ZADD', KEYS[5], ARGV[9], ARGV[2])
for i = 1, n do
  redis.call('SET', KEYS[7 + i], ARGV[2], 'EX', ARGV[11])
  redis.call('HSET', KEYS[7 + n + i], 'state', 'done')
  redis.call('EXPIRE', KEYS[7 + n + i], ARGV[11])
  redis.call('ZREM', KEYS[7], ARGV[11 + i])
end
return {'queued', tostring(waiting + 1)}
"""

_BEGIN = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone', '0'} end
if state == 'done' or state == 'failed' or state == 'cancelled' then return {'finished', '0'} end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then return {'busy', '0'} end
local first = redis.call('ZRANGE', KEYS[4], 0, 0)
if state == 'queued' and first[1] and first[1] ~= ARGV[1] then return {'busy', '0'} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'state', 'running')
  return {'exhausted', tostring(attempts)}
end
attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'state', 'running', 'started', ARGV[4])
return {'run', tostring(attempts)}
"""

_REQUEUE = """
local seq = redis.call('HGET', KEYS[1], 'seq')
if not seq then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued')
if ARGV[2] == '1' then
  local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
  if attempts > 0 then redis.call('HSET', KEYS[1], 'attempts', attempts - 1) end
end
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

_FINISH = """
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'outcome', ARGV[3], 'finished', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

# Waiting jobs of one user: out of arq's queue and marked cancelled, all at once.
_CANCEL_WAITING = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local dropped = {}
for _, id in ipairs(ids) do
  local job = ARGV[1] .. id
  if redis.call('HGET', job, 'state') == 'queued' then
    redis.call('HSET', job, 'state', 'cancelled', 'outcome', 'cancelled', 'finished', ARGV[4])
    redis.call('EXPIRE', job, ARGV[5])
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('DEL', ARGV[2] .. id)
    table.insert(dropped, redis.call('HGET', job, 'payload'))
  end
  redis.call('ZREM', KEYS[1], id)
end
return dropped
"""


class AttemptVerdict(StrEnum):
    """What a worker may do with a job arq handed it."""

    RUN = "run"
    # Every attempt was used (each ended in a crash): only the apology is left.
    EXHAUSTED = "exhausted"
    # Its user has another job running (or an older one waiting): later.
    BUSY = "busy"
    # Cancelled or ended already (arq delivered it again): nothing to do.
    FINISHED = "finished"
    GONE = "gone"


class RedisJobQueue:
    """``JobQueue`` on Redis (front end side), with the record keeping workers use."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        max_waiting: int,
        *,
        workers_expected: int = 0,
    ) -> None:
        self._redis = client
        self._keys = keys
        self._max_waiting = max_waiting
        self._submit = client.register_script(_SUBMIT)
        self._begin = client.register_script(_BEGIN)
        self._requeue = client.register_script(_REQUEUE)
        self._finish = client.register_script(_FINISH)
        self._cancel_waiting = client.register_script(_CANCEL_WAITING)
        # /readyz wants at least this many live workers (0: any number, none included).
        self._workers_expected = workers_expected
        self._snapshot = QueueSnapshot(0, 0, 0, 0, time.monotonic())
        self._progress_marker: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self.write_error: str | None = None

    # -- JobQueue ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._refresh()
        self._refresher = threading.Thread(target=self._refresh_loop, name="queue-counts",
                                           daemon=True)
        self._refresher.start()

    def stop(self, timeout: float) -> None:
        """The front end runs no jobs: nothing to wait for; queued jobs stay in Redis."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join(SNAPSHOT_EVERY_S + 5)

    def submit(self, job: Job) -> int:
        keys = self._keys
        now_ms = int(time.time() * 1000)
        arq_payload = serialize_job(DIGEST_FUNCTION, (job.id,), {}, None, now_ms)
        n = len(job.update_ids)
        verdict, value = self._call(
            self._submit,
            keys=[
                keys.jobs_queued,
                keys.job(job.id),
                keys.user_queued(job.user_id),
                job_key_prefix + job.id,
                keys.arq_queue,
                keys.job_seq,
                keys.updates_new,
                *(keys.update_job(u) for u in job.update_ids),
                *(keys.update(u) for u in job.update_ids),
            ],
            args=[
                self._max_waiting,
                job.id,
                job.to_json(),
                job.user_id,
                job.chat_id,
                job.created,
                arq_payload,
                EXPIRE_WAITING_MS,
                now_ms,
                n,
                KEEP_UPDATES_S,
                *job.update_ids,
            ],
        )
        if verdict == "full":
            raise QueueFullError
        if verdict == "exists":
            log.info("update(s) %s have their job already", job.update_ids)
            return self._place_of(value)
        return int(value)

    def cancel(self, user_id: int) -> Cancellation:
        keys = self._keys
        payloads = self._call(
            self._cancel_waiting,
            keys=[keys.user_queued(user_id), keys.jobs_queued, keys.arq_queue],
            args=[keys.job(""), job_key_prefix, 0, time.time(), KEEP_JOBS_S],
        )
        dropped = tuple(Job.from_json(_text(p)) for p in payloads)
        running_id = self._redis.get(keys.user_running(user_id))
        if running_id is None:
            return Cancellation(dropped)
        running = self.load(_text(running_id))
        if running is None:
            return Cancellation(dropped)
        self._redis.hset(keys.job(running.id), "cancel", "1")
        return Cancellation(dropped, running)

    def position(self, user_id: int) -> int | None:
        keys = self._keys
        if self._redis.exists(keys.user_running(user_id)):
            return 0
        first = self._redis.zrange(keys.user_queued(user_id), 0, 0)
        return self._place_of(_text(first[0])) if first else None

    def snapshot(self) -> QueueSnapshot:
        return self._snapshot

    # -- the job's record ----------------------------------------------------------------------
    def status_message(self, job_id: str) -> int | None:
        value = self._redis.hget(self._keys.job(job_id), "status_message_id")
        return None if value is None else int(value)

    def set_status_message(self, job_id: str, message_id: int) -> None:
        self._redis.hset(self._keys.job(job_id), "status_message_id", message_id)

    def delivery(self, job_id: str) -> DeliveryState:
        value = self._redis.hget(self._keys.job(job_id), "delivery")
        return DeliveryState.NONE if value is None else DeliveryState(_text(value))

    def set_delivery(self, job_id: str, state: DeliveryState) -> None:
        self._redis.hset(self._keys.job(job_id), "delivery", state.value)

    # -- what workers use ------------------------------------------------------------------------
    def load(self, job_id: str) -> Job | None:
        fields = self._redis.hmget(
            self._keys.job(job_id), ["payload", "status_message_id", "attempts"]
        )
        if fields[0] is None:
            return None
        job = Job.from_json(_text(fields[0]))
        if fields[1] is not None:
            job.status_message_id = int(fields[1])
        job.attempts = int(fields[2] or 0)
        return job

    def state(self, job_id: str) -> JobState | None:
        value = self._redis.hget(self._keys.job(job_id), "state")
        return None if value is None else JobState(_text(value))

    def begin_attempt(self, job: Job, lease_ms: int, max_attempts: int) -> AttemptVerdict:
        """Take the user's slot and count an attempt (see the module's docstring)."""
        keys = self._keys
        verdict, attempts = self._call(
            self._begin,
            keys=[
                keys.job(job.id),
                keys.user_running(job.user_id),
                keys.jobs_queued,
                keys.user_queued(job.user_id),
                keys.jobs_running,
            ],
            args=[job.id, lease_ms, max_attempts, time.time()],
        )
        job.attempts = int(attempts)
        return AttemptVerdict(verdict)

    def requeue(self, job: Job, *, uncharge: bool) -> None:
        """Waiting again (for arq's retry); ``uncharge``: the attempt does not count."""
        self._call(self._requeue, keys=self._job_keys(job), args=[job.id, "1" if uncharge else "0"])

    def finish(self, job: Job, outcome: Outcome) -> None:
        self._call(
            self._finish,
            keys=self._job_keys(job),
            args=[job.id, JobState.after(outcome).value, outcome.value, time.time(), KEEP_JOBS_S],
        )

    def cancel_requested(self, job_id: str) -> bool:
        return self._redis.hget(self._keys.job(job_id), "cancel") is not None

    # -- inside ------------------------------------------------------------------------------
    def _job_keys(self, job: Job) -> list[str]:
        keys = self._keys
        return [
            keys.job(job.id),
            keys.user_running(job.user_id),
            keys.jobs_queued,
            keys.user_queued(job.user_id),
            keys.jobs_running,
        ]

    def _place_of(self, job_id: str) -> int:
        score = self._redis.zscore(self._keys.jobs_queued, job_id)
        if score is None:
            return 0
        return int(self._redis.zcount(self._keys.jobs_queued, "-inf", score))

    def _call(self, script: redis.commands.core.Script, *, keys: list[str], args: list[object]
              ) -> list[object]:
        try:
            result = script(keys=keys, args=args)
        except redis.RedisError as exc:
            self.write_error = f"Redis: {exc}"
            raise
        self.write_error = None
        if not isinstance(result, list):
            return [result]
        return [_text(v) if isinstance(v, bytes) else v for v in result]

    def _refresh_loop(self) -> None:
        while not self._stop.wait(SNAPSHOT_EVERY_S):
            self._refresh()

    def _refresh(self) -> None:
        """The counts for /readyz and /metrics; "progress" is any change of them."""
        keys = self._keys
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.zcard(keys.jobs_queued)
                pipe.scard(keys.jobs_running)
                pipe.get(keys.job_seq)
                queued, running, seq = pipe.execute()
            alive = sum(1 for _ in self._redis.scan_iter(keys.workers_pattern, count=100))
        except redis.RedisError as exc:
            self.write_error = f"Redis: {exc}"
            log.warning("cannot read the job counts from Redis (%s)", exc)
            return
        self.write_error = None
        marker = (int(queued) + int(running), int(seq or 0))
        last = self._snapshot.last_progress
        if marker != self._progress_marker:
            self._progress_marker, last = marker, time.monotonic()
        expected = self._workers_expected
        self._snapshot = QueueSnapshot(
            queued=int(queued),
            running=int(running),
            workers=max(expected, alive) if expected else alive,
            workers_alive=alive,
            last_progress=last,
        )


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
