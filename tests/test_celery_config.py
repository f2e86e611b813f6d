import celeryconfig
from tasks.celery_app import app


def test_queues_are_the_three_of_the_design():
    assert {q.name for q in celeryconfig.task_queues} == {"indexing", "events", "aggregation"}


def test_task_names_route_to_their_queue():
    router = app.amqp.router
    assert router.route({}, "indexing.index_product")["queue"].name == "indexing"
    assert router.route({}, "events.flush_batch")["queue"].name == "events"
    assert router.route({}, "aggregation.refresh")["queue"].name == "aggregation"


def test_reliability_settings():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    # The visibility timeout must exceed every task's hard limit, or Redis
    # would hand a running task to a second worker.
    longest = max([conf.task_time_limit] + [getattr(t, "time_limit", 0) or 0 for t in app.tasks.values()])
    assert conf.broker_transport_options["visibility_timeout"] > longest


def test_broker_comes_from_redis_url(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:6399/7", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", "from tasks.celery_app import app; print(app.conf.broker_url)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip() == "redis://127.0.0.1:6399/7"


def test_configure_celery_switches_connected_app(storage_ready):
    import redis

    from tasks.celery_app import configure_celery

    spare = storage_ready.model_copy(update={"redis_url": "redis://127.0.0.1:6380/62"})
    spare_redis = redis.Redis(port=6380, db=62)
    spare_redis.flushdb()
    try:
        app.send_task("events.sweep")  # opens a connection to the session's Redis
        configure_celery(spare)
        app.send_task("events.sweep")
        assert spare_redis.llen("events") == 1
        assert app.backend.client.connection_pool.connection_kwargs["db"] == 62
    finally:
        configure_celery(storage_ready)
        spare_redis.flushdb()
