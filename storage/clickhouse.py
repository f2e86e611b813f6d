"""A thin ClickHouse client: tagged queries, batched inserts, the project's own errors."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from config import Settings
from storage.errors import QueryRejected, StorageUnavailable

logger = logging.getLogger(__name__)

# Server error codes that mean "the server is going away or overloaded", which
# callers retry, as opposed to a problem with the query or the data.
_TRANSIENT_CODES = {
    159,  # TIMEOUT_EXCEEDED
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    394,  # QUERY_WAS_CANCELLED
}


class ClickHouse:
    """One connection to ClickHouse; not thread-safe (see storage.clients)."""

    def __init__(self, settings: Settings, *, timeout: float, database: str | None = None):
        self.database = database or settings.clickhouse_db
        self._client = Client(
            host=settings.clickhouse_host,
            port=settings.clickhouse_port,
            database=self.database,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password,
            connect_timeout=min(timeout, 5.0),
            send_receive_timeout=timeout,
            sync_request_timeout=min(timeout, 5.0),
            client_name="shopsearch",
            settings={"max_execution_time": int(timeout)},
        )

    def execute(
        self,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        tag: str,
        settings: dict[str, Any] | None = None,
        with_column_types: bool = False,
    ) -> Any:
        """Run one statement; `tag` names the endpoint or task for system.query_log."""
        query_id = f"{tag}:{uuid.uuid4().hex}"
        try:
            return self._client.execute(
                f"/* {tag} */ {sql}",
                params,
                settings=settings,
                query_id=query_id,
                with_column_types=with_column_types,
            )
        except Exception as exc:
            raise self._translate(exc, tag) from exc

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, tag: str) -> int:
        """Insert rows in one INSERT statement and return how many were sent."""
        rows = list(rows)
        if not rows:
            return 0
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES"
        self.execute(sql, rows, tag=tag)
        return len(rows)

    def query_dicts(self, sql: str, params: dict[str, Any] | None = None, *, tag: str, **kwargs: Any) -> list[dict]:
        """Run a SELECT and return its rows as dicts keyed by column name."""
        rows, columns = self.execute(sql, params, tag=tag, with_column_types=True, **kwargs)
        names = [name for name, _type in columns]
        return [dict(zip(names, row)) for row in rows]

    def iter_rows(self, sql: str, params: dict[str, Any] | None = None, *, tag: str, settings: dict | None = None):
        """Stream a SELECT's rows block by block, holding one block in memory at a time."""
        query_id = f"{tag}:{uuid.uuid4().hex}"
        try:
            yield from self._client.execute_iter(
                f"/* {tag} */ {sql}", params, settings=settings, query_id=query_id
            )
        except Exception as exc:
            raise self._translate(exc, tag) from exc

    def disconnect(self) -> None:
        self._client.disconnect()

    def _translate(self, exc: Exception, tag: str) -> Exception:
        if isinstance(exc, ch_errors.ServerException):
            if exc.code in _TRANSIENT_CODES:
                return StorageUnavailable("clickhouse", f"server error {exc.code}")
            # NOTE: the message can quote the statement; callers log it, never return it.
            return QueryRejected(exc.code, exc.message.split("\n", 1)[0])
        if isinstance(exc, (ch_errors.NetworkError, ch_errors.SocketTimeoutError, EOFError, OSError)):
            # A broken connection is thrown away; the next call reconnects.
            self._client.disconnect()
            logger.warning("clickhouse_unavailable tag=%s error=%s", tag, type(exc).__name__)
            return StorageUnavailable("clickhouse", type(exc).__name__)
        if isinstance(exc, ch_errors.Error):
            self._client.disconnect()
            return StorageUnavailable("clickhouse", type(exc).__name__)
        return exc
