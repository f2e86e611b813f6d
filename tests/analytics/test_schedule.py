"""The beat entries of the aggregation queue."""

from celery.schedules import crontab

import celeryconfig
from tasks.celery_app import app

AGGREGATION_ENTRIES = ("aggregation.refresh", "aggregation.compact", "aggregation.rollup_days")


def test_aggregation_entries_use_crontab():
    for name in AGGREGATION_ENTRIES:
        entry = celeryconfig.beat_schedule[name]
        assert isinstance(entry["schedule"], crontab), name
        assert entry["options"]["expires"] > 0, name


def test_scheduled_tasks_are_registered_and_routed():
    app.loader.import_default_modules()
    for name in AGGREGATION_ENTRIES + ("aggregation.rebuild_range",):
        assert name in app.tasks, name
        assert app.amqp.router.route({}, name)["queue"].name == "aggregation"


def test_task_limits_fit_visibility_timeout():
    app.loader.import_default_modules()
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    for name in AGGREGATION_ENTRIES + ("aggregation.rebuild_range",):
        task = app.tasks[name]
        assert task.soft_time_limit < task.time_limit < timeout, name
