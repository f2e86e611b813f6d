"""The Celery application: `celery -A tasks.celery_app worker|beat`."""

from __future__ import annotations

import logging

from celery import Celery, signals

from config import get_settings
from config.logging import configure_logging, request_id_var
from storage import clients

logger = logging.getLogger(__name__)

# The modules that define tasks; the worker imports them at start.
TASK_MODULES: list[str] = ["tasks.indexing", "tasks.events", "tasks.aggregation", "tasks.search"]


def create_celery() -> Celery:
    app = Celery("shopsearch", include=TASK_MODULES)
    app.config_from_object("celeryconfig")

    # Evaluated when the configuration is first read, not at import, so the web
    # app (and tests) can point Celery at other settings with configure_celery.
    app.add_defaults(lambda: {
        "broker_url": get_settings().redis_dsn,
        "result_backend": get_settings().redis_dsn,
    })

    return app


def configure_celery(settings) -> None:
    """Point the Celery app of this process at the Redis of these settings.

    Connections already opened to the previous broker are closed and the
    result backend is dropped, since Celery keeps using both otherwise.
    """
    if app.conf.broker_url == settings.redis_dsn and app.conf.result_backend == settings.redis_dsn:
        return
    app.close()
    # close() keeps the producer pool, which keeps connections to the old broker.
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)
    app.conf.broker_url = settings.redis_dsn
    app.conf.result_backend = settings.redis_dsn


app = create_celery()


@signals.setup_logging.connect
def _setup_logging(**_kwargs):
    configure_logging(get_settings())


@signals.worker_process_init.connect
def _fresh_clients(**_kwargs):
    # Prefork children must not reuse the parent's sockets (os.register_at_fork
    # covers this too; being explicit costs nothing).
    clients.configure(get_settings())


@signals.before_task_publish.connect
def _prepare_headers(headers=None, **_kwargs):
    if headers is None:
        return
    # The id of the HTTP request that enqueued the task travels with it.
    if request_id_var.get():
        headers.setdefault("request_id", request_id_var.get())
    # Workers log and monitors show these representations of the arguments;
    # some tasks take a shopper's ids, so none are shown.
    headers["argsrepr"] = "(redacted)"
    headers["kwargsrepr"] = "{redacted}"


@signals.task_prerun.connect
def _bind_request_id(task=None, **_kwargs):
    request_id_var.set(getattr(task.request, "request_id", None) or (task.request.id or ""))
