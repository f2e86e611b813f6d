"""The Redis buffer between accepting an event and inserting it into ClickHouse.

The API appends encoded rows to one Redis list per kind of event ("search" for
the table search_events, "interaction" for the table events). A flush task
moves up to a batch of rows from that list into a claimed entry of its own in
one atomic step, inserts them, then deletes the claimed entry. A task killed in
between leaves the claimed entry behind. The same task delivered again inserts
it again, and so does any flush once the claim is STALE_CLAIM_SECONDS old;
storage.events skips the event_ids already stored.

Keys, all under the prefix "events:":
  buffer:<kind>          list of rows waiting for a flush (JSON arrays in COLUMNS order)
  claimed:<kind>:<owner>:<n> rows one flush task is inserting, joined by newlines
  claims                 sorted set of claimed entry names, scored by claim time
  claimed_rows           number of rows in all claimed entries (part of the backlog)
  age_flush:<kind>       set while a flush closing the batch by age is scheduled
  size_flush:<kind>      set while a flush of full batches is scheduled
  lock:<kind>            the flush task that may insert rows of this kind now
  dead:<kind>            rows that ClickHouse rejected, with the reason

Memory bound: the backlog (rows in buffer lists and claimed entries) is capped
at settings.event_backlog_limit. Above it push() raises BacklogFull and the API
returns 503 with Retry-After, so Redis keeps at most about limit x row size.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import redis

from storage import clients
from storage.errors import StorageUnavailable

logger = logging.getLogger(__name__)

KINDS = ("search", "interaction")
TABLES = {"search": "search_events", "interaction": "events"}

# Column order of the encoded rows and of the INSERT; each with its default
# when a row leaves it out. event_id and timestamp have no default.
COLUMNS: dict[str, dict[str, Any]] = {
    "search": {
        "event_id": None, "query_id": "", "timestamp": None, "timestamp_ms": 0,
        "received_at": None, "query": "", "normalized_query": "", "filters": "",
        "filter_names": [], "filter_values": [], "sort": "", "page": 1,
        "page_size": 0, "total": 0, "took_ms": 0, "session_id": "", "user_id": "",
    },
    "interaction": {
        "event_id": None, "event_type": None, "timestamp": None, "received_at": None,
        "product_id": "", "session_id": "", "user_id": "", "query_id": "",
        "position": 0, "quantity": 0, "price": Decimal(0), "currency": "", "order_id": "",
    },
}
_DATETIME_COLUMNS = {"timestamp", "received_at"}
_DECIMAL_COLUMNS = {"price"}
_TIMESTAMP_INDEXES = {kind: list(columns).index("timestamp") for kind, columns in COLUMNS.items()}
_DECIMAL_INDEXES = {
    kind: [i for i, name in enumerate(columns) if name in _DECIMAL_COLUMNS] for kind, columns in COLUMNS.items()
}

KEY_PREFIX = "events:"
CLAIMS_KEY = KEY_PREFIX + "claims"
CLAIMED_ROWS_KEY = KEY_PREFIX + "claimed_rows"

# A claim older than this is taken over by any flush. It exceeds the hard time
# limit of events.flush (300 s), so a running task does not lose its batch.
STALE_CLAIM_SECONDS = 600
# A scheduled-flush marker expires after this long, so a flush task lost with
# its worker delays the next schedule by at most this much.
FLUSH_MARKER_SECONDS = 60
# The lock of a kind expires this long after its last renewal (the flush
# renews it per batch), so a killed holder blocks others for at most this long.
LOCK_SECONDS = 120
# Dead letters kept per kind; older ones are dropped first.
DEAD_LETTER_LIMIT = 100_000


class BacklogFull(StorageUnavailable):
    """The backlog of events waiting for ClickHouse reached settings.event_backlog_limit."""

    def __init__(self, backlog: int, limit: int, retry_after: int):
        self.backlog = backlog
        self.limit = limit
        self.retry_after = retry_after
        super().__init__("redis", f"event backlog full ({backlog} of {limit} events waiting for clickhouse)")


@dataclass(frozen=True)
class Claim:
    """A batch of encoded rows moved out of the buffer by one flush task."""

    kind: str
    key: str
    rows: list[bytes]


# Called as scheduler(kind, countdown_seconds, full_batches_only) when a push
# needs a flush; tasks.events registers the Celery one.
FlushScheduler = Callable[[str, float, bool], None]
_flush_scheduler: FlushScheduler | None = None


def set_flush_scheduler(scheduler: FlushScheduler | None) -> None:
    """Register the function that enqueues a flush task (tasks.events does)."""
    global _flush_scheduler
    _flush_scheduler = scheduler


def buffer_key(kind: str) -> str:
    return f"{KEY_PREFIX}buffer:{kind}"


def dead_letter_key(kind: str) -> str:
    return f"{KEY_PREFIX}dead:{kind}"


def _age_marker(kind: str) -> str:
    return f"{KEY_PREFIX}age_flush:{kind}"


def _size_marker(kind: str) -> str:
    return f"{KEY_PREFIX}size_flush:{kind}"


def _lock_key(kind: str) -> str:
    return f"{KEY_PREFIX}lock:{kind}"


def _check_kind(kind: str) -> None:
    if kind not in COLUMNS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(KINDS)}")


# --- encoding ------------------------------------------------------------------


# One encoder for every row: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_MISSING = object()


def _encode_datetime(name: str, value: Any) -> int:
    if not isinstance(value, datetime):
        raise ValueError(f"column {name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def encode_row(kind: str, row: dict[str, Any]) -> bytes:
    """Encode one row as a JSON array in COLUMNS order; naive datetimes are taken as UTC."""
    columns = COLUMNS[kind]
    if not row.keys() <= columns.keys():
        unknown = row.keys() - columns.keys()
        raise ValueError(f"unknown columns for {kind} events: {', '.join(sorted(unknown))}")

    values = []
    for name, default in columns.items():
        value = row.get(name, _MISSING)
        if value is _MISSING:
            if name == "received_at":
                value = datetime.now(timezone.utc)
            elif default is None:
                raise ValueError(f"column {name} is required for {kind} events")
            else:
                value = default
        if name in _DATETIME_COLUMNS:
            value = _encode_datetime(name, value)
        elif name in _DECIMAL_COLUMNS:
            value = str(value)
        values.append(value)
    if not isinstance(values[0], str) or not values[0]:
        raise ValueError(f"event_id must be a non-empty string, got {values[0]!r}")
    return _JSON.encode(values).encode()


def timestamp_index(kind: str) -> int:
    """Return the position of the timestamp column in a decoded row."""
    return _TIMESTAMP_INDEXES[kind]


def decode_rows(kind: str, raw_rows: Sequence[bytes]) -> list[list[Any]]:
    """Decode many buffered rows at once; raises ValueError when any of them is invalid."""
    rows = json.loads(b"[" + b",".join(raw_rows) + b"]")
    if len(rows) != len(raw_rows):
        raise ValueError(f"{len(raw_rows)} buffered {kind} rows decoded into {len(rows)}")
    for values in rows:
        _check_and_convert(kind, values)
    return rows


def decode_row(kind: str, raw: bytes) -> list[Any]:
    """Decode a buffered row into the values of an INSERT (DateTime as epoch seconds)."""
    values = json.loads(raw)
    _check_and_convert(kind, values)
    return values


def _check_and_convert(kind: str, values: Any) -> None:
    # The stored-id lookup reads event_id and timestamp before the INSERT, so a
    # bad value there must be caught here: it would fail every retry of the batch.
    width = len(COLUMNS[kind])
    if not isinstance(values, list) or len(values) != width:
        raise ValueError(f"a buffered {kind} row does not have {width} values")
    if not isinstance(values[0], str) or not values[0]:
        raise ValueError(f"a buffered {kind} row has an invalid event_id {values[0]!r}")
    timestamp = values[_TIMESTAMP_INDEXES[kind]]
    if type(timestamp) is not int or not 0 <= timestamp < 2**32:
        raise ValueError(f"a buffered {kind} row has a timestamp outside DateTime: {timestamp!r}")
    for index in _DECIMAL_INDEXES[kind]:
        values[index] = Decimal(values[index])


# --- push ----------------------------------------------------------------------

# KEYS: buffer list, age marker, size marker, then every buffer list and the
# claimed-row counter (for the backlog). ARGV: backlog limit, batch size,
# marker ttl in ms, number of backlog keys, then the rows.
_PUSH_SCRIPT = """
local backlog = tonumber(redis.call('GET', KEYS[4 + tonumber(ARGV[4]) - 1]) or '0')
for i = 4, 4 + tonumber(ARGV[4]) - 2 do
  backlog = backlog + redis.call('LLEN', KEYS[i])
end
local count = #ARGV - 4
if backlog + count > tonumber(ARGV[1]) then
  return {0, backlog, 0, 0}
end
local length = 0
for i = 5, #ARGV, 1000 do
  length = redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local age = 0
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then age = 1 end
local size = 0
if length >= tonumber(ARGV[2]) and redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then size = 1 end
return {1, length, age, size}
"""


@contextmanager
def _redis_errors():
    """Turn a Redis connection failure or timeout into StorageUnavailable("redis")."""
    try:
        yield
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def _script(source: str):
    # register_script keeps the SHA and sends EVALSHA, falling back to EVAL once.
    return clients.redis_client().register_script(source)


def push(kind: str, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows to the buffer of a kind in one Redis round trip and make sure a flush follows.

    kind is "search" (columns of table search_events) or "interaction" (columns
    of table events). Values are Python objects: datetime (UTC) for timestamp
    and received_at (received_at defaults to now), Decimal for price, lists for
    filter_names and filter_values. Raises ValueError for a row with unknown or
    missing columns, BacklogFull when the backlog cap is reached, and
    StorageUnavailable("redis", ...) when Redis cannot be reached. The first
    push after a flush emptied the buffer enqueues the next flush with a
    countdown of settings.event_batch_max_age. A push that fills a whole batch
    enqueues a flush of full batches at once.
    """
    _check_kind(kind)
    if not rows:
        return
    encoded = [encode_row(kind, row) for row in rows]
    settings = clients.settings()

    backlog_keys = [buffer_key(k) for k in KINDS] + [CLAIMED_ROWS_KEY]
    keys = [buffer_key(kind), _age_marker(kind), _size_marker(kind), *backlog_keys]
    args = [settings.event_backlog_limit, settings.event_batch_size,
            FLUSH_MARKER_SECONDS * 1000, len(backlog_keys), *encoded]
    with _redis_errors():
        accepted, length, age_needed, size_needed = _script(_PUSH_SCRIPT)(keys=keys, args=args)

    if not accepted:
        logger.warning("event_backlog_full kind=%s backlog=%d limit=%d", kind, length,
                       settings.event_backlog_limit)
        raise BacklogFull(length, settings.event_backlog_limit, retry_after=30)
    if age_needed:
        _schedule_flush(kind, settings.event_batch_max_age, full_batches_only=False)
    if size_needed:
        _schedule_flush(kind, 0, full_batches_only=True)


def _schedule_flush(kind: str, countdown: float, *, full_batches_only: bool) -> None:
    marker = _size_marker(kind) if full_batches_only else _age_marker(kind)
    if _flush_scheduler is None:
        # NOTE: without a scheduler (a process that never imported tasks.events)
        # the rows wait for the next flush that another process schedules.
        logger.warning("event_flush_unscheduled kind=%s reason=no_scheduler", kind)
        _forget_marker(marker)
        return
    try:
        _flush_scheduler(kind, countdown, full_batches_only)
    except Exception as exc:
        # The rows are safe in Redis; dropping the marker lets the next push
        # schedule the flush again.
        logger.error("event_flush_schedule_failed kind=%s error=%s: %s", kind, type(exc).__name__, exc)
        _forget_marker(marker)


def _forget_marker(marker: str) -> None:
    try:
        clients.redis_client().delete(marker)
    except redis.RedisError as exc:
        logger.warning("event_flush_marker_delete_failed marker=%s error=%s", marker, type(exc).__name__)


# --- the flush side --------------------------------------------------------------

# A claimed batch is kept as one string, its rows joined by newlines (a JSON
# row never contains a raw newline): one value to write, return and delete is
# several times cheaper than a list of thousands.
#
# KEYS: buffer list, claimed key, claims set, claimed-row counter.
# ARGV: batch size, claim time, minimum rows (0 takes whatever is there).
_CLAIM_SCRIPT = """
local length = redis.call('LLEN', KEYS[1])
if length == 0 or length < tonumber(ARGV[3]) then return false end
local rows = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
redis.call('LTRIM', KEYS[1], #rows, -1)
local batch = table.concat(rows, '\\n')
redis.call('SET', KEYS[2], batch)
redis.call('ZADD', KEYS[3], ARGV[2], KEYS[2])
redis.call('INCRBY', KEYS[4], #rows)
return batch
"""

# KEYS: claimed key, claims set, claimed-row counter. ARGV: rows in the claim.
_RELEASE_SCRIPT = """
if redis.call('DEL', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[3], ARGV[1]) end
redis.call('ZREM', KEYS[2], KEYS[1])
return 1
"""

# KEYS: claims set, claimed key. ARGV: cutoff, now. Returns the batch when
# the claim is older than the cutoff, having re-scored it to now.
_TAKE_OVER_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], KEYS[2])
if not score or tonumber(score) > tonumber(ARGV[1]) then return false end
redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
return redis.call('GET', KEYS[2])
"""

# KEYS: lock. ARGV: owner, ttl in ms. Taken when free or already this owner's,
# so a task delivered again after its worker died gets its lock back at once.
_LOCK_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: buffer list, age marker. Drops the marker only when nothing is left,
# so a push that comes after it schedules the next flush itself.
_FINISH_SCRIPT = """
local length = redis.call('LLEN', KEYS[1])
if length == 0 then redis.call('DEL', KEYS[2]) end
return length
"""


def _call(script: str, keys: list[str], args: list[Any]) -> Any:
    try:
        return _script(script)(keys=keys, args=args)
    except redis.ResponseError as exc:
        # Redis answered, so this is no outage: a script failed on the data it found.
        logger.error("event_buffer_script_failed keys=%s error=%s", ",".join(keys), exc)
        raise StorageUnavailable("redis", f"script failed: {exc}") from exc
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def _claimed_key(kind: str, owner: str) -> str:
    return f"{KEY_PREFIX}claimed:{kind}:{owner}:{time.time_ns()}"


def buffered(kind: str) -> int:
    """Return how many rows of a kind wait in the buffer (claimed rows not included)."""
    _check_kind(kind)
    with _redis_errors():
        return clients.redis_client().llen(buffer_key(kind))


def backlog() -> dict[str, int]:
    """Return the rows waiting per kind and the rows claimed by running flushes."""
    with _redis_errors():
        pipe = clients.redis_client().pipeline(transaction=False)
        for kind in KINDS:
            pipe.llen(buffer_key(kind))
        pipe.get(CLAIMED_ROWS_KEY)
        *lengths, claimed = pipe.execute()
    result = dict(zip(KINDS, lengths))
    result["claimed"] = int(claimed or 0)
    return result


def claim(kind: str, owner: str, batch_size: int, *, min_rows: int = 0) -> Claim | None:
    """Move up to batch_size rows into a claimed list of owner; None when fewer than min_rows wait."""
    _check_kind(kind)
    key = _claimed_key(kind, owner)
    batch = _call(_CLAIM_SCRIPT, [buffer_key(kind), key, CLAIMS_KEY, CLAIMED_ROWS_KEY],
                  [batch_size, time.time(), min_rows])
    return Claim(kind, key, batch.split(b"\n")) if batch else None


def release(claim_: Claim) -> None:
    """Delete a claimed list once its rows are stored (or dead-lettered)."""
    _call(_RELEASE_SCRIPT, [claim_.key, CLAIMS_KEY, CLAIMED_ROWS_KEY], [len(claim_.rows)])


def orphaned_claims(kind: str, owner: str, stale_after: float = STALE_CLAIM_SECONDS) -> list[Claim]:
    """Take over the claims of kind left by owner (a task delivered again) or older than stale_after.

    Each claim taken is re-scored to now, so no other flush takes it over
    while this one inserts it.
    """
    _check_kind(kind)
    prefix = f"{KEY_PREFIX}claimed:{kind}:"
    own_prefix = f"{prefix}{owner}:"
    now = time.time()
    with _redis_errors():
        candidates = clients.redis_client().zrange(CLAIMS_KEY, 0, -1, withscores=True)

    found = []
    for raw_key, _score in candidates:
        key = raw_key.decode()
        if not key.startswith(prefix):
            continue
        cutoff = now if key.startswith(own_prefix) else now - stale_after
        batch = _call(_TAKE_OVER_SCRIPT, [CLAIMS_KEY, key], [cutoff, now])
        if batch:
            found.append(Claim(kind, key, batch.split(b"\n")))
    return found


def acquire_lock(kind: str, owner: str) -> bool:
    """Take (or renew) the insert lock of a kind for owner; False when another flush holds it."""
    return bool(_call(_LOCK_SCRIPT, [_lock_key(kind)], [owner, LOCK_SECONDS * 1000]))


def release_lock(kind: str, owner: str) -> None:
    _call(_UNLOCK_SCRIPT, [_lock_key(kind)], [owner])


def finish_age_flush(kind: str) -> int:
    """Drop the age-flush marker when the buffer is empty; return the rows still waiting."""
    return int(_call(_FINISH_SCRIPT, [buffer_key(kind), _age_marker(kind)], []))


def keep_age_flush(kind: str) -> None:
    """Renew the age-flush marker while a flush retries, so pushes do not pile up more flushes."""
    _call("return redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])", [_age_marker(kind)],
          [FLUSH_MARKER_SECONDS * 1000])


def clear_size_flush(kind: str) -> None:
    """Drop the size-flush marker as a size flush starts, so the next full batch schedules another."""
    _call("return redis.call('DEL', KEYS[1])", [_size_marker(kind)], [])


# --- dead letters ------------------------------------------------------------------


def add_dead_letters(kind: str, rows: Sequence[bytes], reason: str) -> None:
    """Keep rows that ClickHouse rejected, with the reason, newest first."""
    if not rows:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    entries = [
        json.dumps({"kind": kind, "reason": reason, "failed_at": now,
                    "row": raw.decode(errors="replace")}).encode()
        for raw in rows
    ]
    with _redis_errors():
        pipe = clients.redis_client().pipeline(transaction=True)
        pipe.lpush(dead_letter_key(kind), *entries)
        pipe.ltrim(dead_letter_key(kind), 0, DEAD_LETTER_LIMIT - 1)
        pipe.execute()


def dead_letters(kind: str, offset: int = 0, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """Return the number of dead letters of a kind and a page of them, newest first."""
    _check_kind(kind)
    with _redis_errors():
        pipe = clients.redis_client().pipeline(transaction=False)
        pipe.llen(dead_letter_key(kind))
        pipe.lrange(dead_letter_key(kind), offset, offset + limit - 1)
        total, raw_entries = pipe.execute()
    return total, [_decode_dead_letter(kind, raw) for raw in raw_entries]


def _decode_dead_letter(kind: str, raw: bytes) -> dict[str, Any]:
    entry = json.loads(raw)
    try:
        entry["row"] = dict(zip(COLUMNS[kind], json.loads(entry["row"])))
    except (ValueError, TypeError):
        # A row that is not even valid JSON is shown as it was buffered.
        pass
    return entry


def clear_dead_letters(kind: str) -> int:
    """Delete the dead letters of a kind; return how many there were."""
    _check_kind(kind)
    with _redis_errors():
        pipe = clients.redis_client().pipeline(transaction=True)
        pipe.llen(dead_letter_key(kind))
        pipe.delete(dead_letter_key(kind))
        count, _deleted = pipe.execute()
    return count
