"""Celery settings: queues, routing, reliability and the beat schedule.

Loaded by tasks.celery_app with config_from_object; the broker and result
URLs come from REDIS_URL through config.Settings.
"""

from celery.schedules import crontab
from kombu import Exchange, Queue

# One queue per kind of work, so a flood of one never delays the others:
#   indexing    - Elasticsearch writes: one product, bulk, full reindex
#   events      - batched inserts of raw events into ClickHouse
#   aggregation - summary-table refreshes and backfills (beat schedules these)
# Each queue has an exchange and routing key of its own; without them Celery
# binds all three to the default queue's, which reads as if they shared one.
task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name)
                    for name in ("indexing", "events", "aggregation"))
task_default_queue = "indexing"
# Task names start with their queue's name ("events.flush_batch"), so the route is the prefix.
task_routes = {
    "indexing.*": {"queue": "indexing"},
    "events.*": {"queue": "events"},
    "aggregation.*": {"queue": "aggregation"},
}

# Acknowledge a message only after its task finished, so a worker that dies
# mid-task leaves the message in Redis to be delivered again. Every task is
# written to be idempotent for that reason.
task_acks_late = True
# Without this, a task whose worker process was killed (SIGKILL, OOM) is
# acknowledged as failed; with it, the message goes back to the queue.
task_reject_on_worker_lost = True
# A worker reserves one message beyond the one it runs, so a killed worker
# strands as few messages as possible until the visibility timeout.
worker_prefetch_multiplier = 1

# Redis redelivers an unacknowledged message after this many seconds. It must
# exceed the longest task's hard time limit (the full reindex, 3,600 s),
# otherwise a running reindex would be delivered a second time.
broker_transport_options = {"visibility_timeout": 7200}
result_backend_transport_options = {"visibility_timeout": 7200}

# Default time limits; long tasks set their own. The soft limit raises inside
# the task so it can clean up, the hard limit kills the process.
task_soft_time_limit = 300
task_time_limit = 360

# STARTED is reported, so GET /api/v1/tasks/{id} can tell queued from running.
task_track_started = True
result_expires = 7 * 24 * 3600
result_extended = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

broker_connection_retry_on_startup = True
worker_hijack_root_logger = False
worker_send_task_events = False

# Beat entries use crontab, not intervals of a minute or more, because an
# interval restarts from zero whenever beat restarts. Features add entries here.
beat_schedule: dict = {
    # Every minute: flush events left in the Redis buffer whose scheduled flush
    # was lost, for example in a Redis restart. The buffer survives in the AOF
    # but the delayed flush message a worker had reserved does not, so a
    # restart delays storage by about a minute at most.
    "events.sweep": {
        "task": "events.sweep",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # Hourly at minute 17, away from the top of the hour: popularity over 30
    # days changes slowly, and a run rewrites only the documents whose score
    # changed. A run not started within 50 minutes is dropped for the next.
    "update-popularity": {
        "task": "aggregation.update_popularity",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    # Every minute: summarize the hours closed since the last run and rebuild
    # hours that late events changed, so a read computes little from raw rows.
    "aggregation.refresh": {
        "task": "aggregation.refresh",
        "schedule": crontab(minute="*"),
        "options": {"expires": 90},
    },
    # Hourly at :41 (away from the popularity update at :17): delete
    # superseded generations and merge parts, so each period keeps one row set.
    "aggregation.compact": {
        "task": "aggregation.compact",
        "schedule": crontab(minute=41),
        "options": {"expires": 5400},
    },
    # Nightly at 00:30 UTC, once the day's last hour has closed and been
    # summarized: roll each complete UTC day into a day period for long ranges.
    "aggregation.rollup_days": {
        "task": "aggregation.rollup_days",
        "schedule": crontab(minute=30, hour=0),
        "options": {"expires": 3 * 3600},
    },
}
