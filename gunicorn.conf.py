"""Gunicorn settings; each can be overridden on the command line or with GUNICORN_CMD_ARGS."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread lets one worker serve a second request while another waits on
# Elasticsearch or ClickHouse; the clients are thread-safe or per-thread.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The path without its query string: queries can carry what shoppers typed.
if os.environ.get("LOG_FORMAT", "json") == "text":
    access_log_format = '%(m)s %(U)s %(s)s %(M)sms request_id=%({x-request-id}o)s'
else:
    access_log_format = '{"time":"%(t)s","method":"%(m)s","path":"%(U)s","status":%(s)s,"ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
# The app is created in the master and workers fork from it; clients are
# created lazily in each worker after the fork (storage.clients).
preload_app = True


def on_starting(server):
    # Migrations and the index are set up once, in the master, before any
    # worker forks, so workers never race to create the same index.
    from config import get_settings
    from storage.setup import init_storage

    init_storage(get_settings())
