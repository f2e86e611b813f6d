"""Bring the storage up to date at start-up: wait for ClickHouse, migrate, ensure the index."""

from __future__ import annotations

import logging

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from config import Settings
from storage import clients, migrations, search_index
from storage.errors import StorageUnavailable

logger = logging.getLogger(__name__)


def wait_for_clickhouse(settings: Settings) -> None:
    """Ping ClickHouse until it responds, at most settings.startup_retries times."""
    retrying = Retrying(
        stop=stop_after_attempt(settings.startup_retries),
        wait=wait_fixed(settings.startup_retry_interval),
        retry=retry_if_exception_type(StorageUnavailable),
        before_sleep=lambda state: logger.info(
            "clickhouse_wait attempt=%d host=%s port=%d",
            state.attempt_number, settings.clickhouse_host, settings.clickhouse_port,
        ),
    )
    try:
        for attempt in retrying:
            with attempt:
                migrations.ensure_database(settings, timeout=settings.web_clickhouse_timeout)
    except RetryError as exc:
        waited = settings.startup_retries * settings.startup_retry_interval
        raise StorageUnavailable(
            "clickhouse",
            f"no answer from {settings.clickhouse_host}:{settings.clickhouse_port} after "
            f"{settings.startup_retries} attempts over about {waited:.0f}s; is it running "
            "(scripts/services.sh status) and are CLICKHOUSE_HOST and CLICKHOUSE_PORT right?",
        ) from exc


def init_storage(settings: Settings) -> dict[str, object]:
    """Apply ClickHouse migrations and create the search index and alias if missing."""
    clients.configure(settings)
    wait_for_clickhouse(settings)
    applied = migrations.apply_migrations(clients.clickhouse(clients.TASK))
    index = search_index.ensure_index(settings.elastic_index, settings.elastic_shards, settings.elastic_replicas)
    logger.info("storage_ready database=%s alias=%s index=%s migrations_applied=%s",
                settings.clickhouse_db, settings.elastic_index, index, applied)
    return {"migrations_applied": applied, "index": index}
