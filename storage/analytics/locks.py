"""A Redis lock that keeps two summary refreshes from running at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from storage import clients
from storage.errors import StorageUnavailable

LOCK_PREFIX = "analytics:lock:"


@contextmanager
def exclusive(name: str, timeout_seconds: int) -> Iterator[bool]:
    """Yield True while holding the lock `name`, False when another holder has it.

    The lock expires after timeout_seconds, so a killed holder cannot keep it.
    """
    lock = clients.redis_client().lock(LOCK_PREFIX + name, timeout=timeout_seconds, blocking=False)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except redis.exceptions.LockError:
                # It expired while the work ran; the work was idempotent anyway.
                pass
