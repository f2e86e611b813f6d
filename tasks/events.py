"""Tasks of the `events` queue: flush buffered events into ClickHouse, recover, purge.

storage.event_buffer.push() enqueues events.flush in two ways. A flush by age,
with a countdown of settings.event_batch_max_age, drains the buffer. A flush
by size, enqueued at once when a full batch waits, inserts full batches only.
Only the holder of a kind's lock inserts, so the stored-id lookup and the
INSERT of one batch never race with another batch of the same kind.
"""

from __future__ import annotations

import logging
import random
import time
import uuid

from celery import signals

from storage import clients, event_buffer, events
from storage.errors import QueryRejected, StorageUnavailable
from tasks.celery_app import app

logger = logging.getLogger(__name__)

# A flush that still finds rows after this long hands over to a new task, so
# no task runs into its time limit under a steady stream of events.
FLUSH_BUDGET_SECONDS = 60
# Retries after a failed insert wait 1, 2, 4, ... seconds, at most this long.
MAX_BACKOFF_SECONDS = 60


def backoff_seconds(retries: int) -> float:
    """Return the wait before retry number `retries` (from 0): exponential with jitter, capped."""
    base = min(MAX_BACKOFF_SECONDS, 2 ** retries)
    return base * random.uniform(0.8, 1.0)


def _enqueue_flush(kind: str, countdown: float, full_batches_only: bool) -> None:
    flush.apply_async((kind, full_batches_only), countdown=countdown or None)


event_buffer.set_flush_scheduler(_enqueue_flush)


@app.task(name="events.flush", bind=True, max_retries=None, soft_time_limit=240, time_limit=300)
def flush(self, kind: str, full_batches_only: bool = False) -> dict:
    """Insert the buffered events of one kind in batches of settings.event_batch_size.

    A flush by age (full_batches_only false) drains the buffer and then drops
    the age marker; a flush by size inserts only full batches. On an outage
    the task retries with exponential backoff and keeps its claimed rows.
    """
    owner = self.request.id or uuid.uuid4().hex
    try:
        if full_batches_only:
            event_buffer.clear_size_flush(kind)
        outcome = drain(kind, owner, full_batches_only=full_batches_only)
    except (StorageUnavailable, QueryRejected) as exc:
        countdown = backoff_seconds(self.request.retries)
        logger.warning("events_flush_retry kind=%s task_id=%s retries=%d countdown=%.1f error=%s",
                       kind, owner, self.request.retries, countdown, exc)
        if not full_batches_only:
            _keep_age_marker(kind)
        raise self.retry(exc=exc, countdown=countdown)

    if outcome["state"] == "locked" and not full_batches_only:
        # Another flush inserts now; this one closes the batch by age after it.
        _keep_age_marker(kind)
        raise self.retry(countdown=clients.settings().event_batch_max_age)
    if outcome["state"] == "more":
        flush.apply_async((kind, full_batches_only))
    return outcome


def _keep_age_marker(kind: str) -> None:
    try:
        event_buffer.keep_age_flush(kind)
    except StorageUnavailable as exc:
        logger.warning("events_flush_marker_failed kind=%s error=%s", kind, exc)


def drain(kind: str, owner: str, *, full_batches_only: bool = False,
          stale_after: float = event_buffer.STALE_CLAIM_SECONDS) -> dict:
    """Insert orphaned claims, then buffered rows, while holding the kind's lock.

    Returns counts and a state: "done", "locked" (another flush holds the
    lock) or "more" (the time budget ran out with rows left).
    """
    totals = {"state": "done", "batches": 0, "inserted": 0, "duplicates": 0, "dead_letters": 0}
    if not event_buffer.acquire_lock(kind, owner):
        totals["state"] = "locked"
        return totals

    try:
        for claim in event_buffer.orphaned_claims(kind, owner, stale_after=stale_after):
            logger.info("events_claim_recovered kind=%s claim=%s rows=%d", kind, claim.key, len(claim.rows))
            _insert_claim(claim, totals)

        batch_size = clients.settings().event_batch_size
        deadline = time.monotonic() + FLUSH_BUDGET_SECONDS
        while time.monotonic() < deadline:
            if not event_buffer.acquire_lock(kind, owner):
                # The lock expired during a slow batch and another flush took it.
                totals["state"] = "locked"
                return totals
            claim = event_buffer.claim(kind, owner, batch_size, min_rows=batch_size if full_batches_only else 0)
            if claim is not None:
                _insert_claim(claim, totals)
            elif full_batches_only or event_buffer.finish_age_flush(kind) == 0:
                return totals
        totals["state"] = "more"
        return totals
    finally:
        event_buffer.release_lock(kind, owner)


def _insert_claim(claim: event_buffer.Claim, totals: dict) -> None:
    started = time.monotonic()
    result = events.insert_batch(claim.kind, claim.rows, tag="events.flush")
    event_buffer.release(claim)

    totals["batches"] += 1
    totals["inserted"] += result.inserted
    totals["duplicates"] += result.duplicates
    totals["dead_letters"] += result.dead_letters
    logger.info("events_batch_stored kind=%s rows=%d inserted=%d duplicates=%d dead_letters=%d inserts=%d ms=%.0f",
                claim.kind, len(claim.rows), result.inserted, result.duplicates, result.dead_letters,
                result.inserts, (time.monotonic() - started) * 1000)


@app.task(name="events.sweep", soft_time_limit=30, time_limit=60)
def sweep() -> dict:
    """Enqueue a drain for each kind with waiting rows or claims, e.g. after workers were down."""
    backlog = event_buffer.backlog()
    scheduled = []
    for kind in event_buffer.KINDS:
        if backlog[kind] or backlog["claimed"]:
            flush.apply_async((kind, False))
            scheduled.append(kind)
    logger.info("events_sweep backlog=%s scheduled=%s", backlog, ",".join(scheduled) or "none")
    return {"backlog": backlog, "scheduled": scheduled}


@app.task(name="events.purge", bind=True, max_retries=None, soft_time_limit=240, time_limit=300)
def purge(self, session_id: str | None = None, user_id: str | None = None) -> dict:
    """Delete every stored event of a session or a user, after storing what is buffered."""
    owner = self.request.id or uuid.uuid4().hex
    try:
        for kind in event_buffer.KINDS:
            if drain(kind, owner)["state"] != "done":
                # Another flush is storing this kind; purge once it is done.
                raise self.retry(countdown=clients.settings().event_batch_max_age)
        tables = events.purge(session_id=session_id, user_id=user_id, tag="events.purge")
    except (StorageUnavailable, QueryRejected) as exc:
        countdown = backoff_seconds(self.request.retries)
        logger.warning("events_purge_retry task_id=%s countdown=%.1f error=%s", owner, countdown, exc)
        raise self.retry(exc=exc, countdown=countdown)

    logger.info("events_purge_started task_id=%s tables=%s", owner, ",".join(tables))
    return {"tables": tables}


@signals.worker_ready.connect
def _sweep_on_start(**_kwargs) -> None:
    # Rows left by a worker that died (with no push since to schedule a flush)
    # are picked up when a worker starts again.
    try:
        sweep.apply_async()
    except Exception as exc:
        logger.warning("events_sweep_enqueue_failed error=%s", type(exc).__name__)
