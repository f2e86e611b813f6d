"""Reachability checks of the three dependencies, for GET /ready."""

from __future__ import annotations

import time
from typing import Any

from storage import clients
from storage.errors import StorageError


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = check()
        status = {"status": "up"}
        if detail:
            status.update(detail)
    except (StorageError, Exception) as exc:  # noqa: BLE001 - any failure means "down"
        status = {"status": "down", "error": type(exc).__name__}
    status["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return status


def _elasticsearch() -> dict[str, Any]:
    health = clients.elastic().cluster.health(timeout="2s")
    if health["status"] == "red":
        raise StorageError("cluster status red")
    return {"cluster_status": health["status"]}


def _clickhouse() -> None:
    clients.clickhouse().execute("SELECT 1", tag="ready")


def _redis() -> None:
    clients.redis_client().ping()


def check_all() -> dict[str, dict[str, Any]]:
    return {
        "elasticsearch": _timed(_elasticsearch),
        "clickhouse": _timed(_clickhouse),
        "redis": _timed(_redis),
    }
