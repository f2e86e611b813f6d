"""Logging set-up: JSON lines (or plain text lines for a terminal), a request id on each."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from config.settings import Settings

# The id of the HTTP request (or of the request that enqueued the running task).
request_id_var: ContextVar[str] = ContextVar("request_id", default="")

_configured = False


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _RedactTaskArgumentsFilter(logging.Filter):
    """Drop task arguments from Celery's log records.

    Celery passes a task's args and kwargs as the `data` extra, which the JSON
    formatter would write out. A purge task's arguments are a shopper's ids.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        if isinstance(data, dict) and ("args" in data or "kwargs" in data):
            record.data = {key: value for key, value in data.items() if key not in ("args", "kwargs")}
        return True


def configure_logging(settings: Settings, *, force: bool = False) -> None:
    """Configure the root logger once per process (not at import)."""
    global _configured
    if _configured and not force:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(_RedactTaskArgumentsFilter())
    if settings.log_format == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    # The drivers log every request at INFO; their failures reach us as exceptions.
    for noisy in ("elastic_transport", "urllib3", "clickhouse_driver", "redis", "tzlocal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # At DEBUG these print whole task messages, arguments included.
    for verbose in ("celery.pool", "celery.bootsteps", "kombu"):
        logging.getLogger(verbose).setLevel(logging.INFO)
    _configured = True
