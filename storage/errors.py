"""The storage layer's own exceptions: callers never see driver error types."""


class StorageError(Exception):
    """A storage call failed for a reason other than an unreachable service."""


class StorageUnavailable(StorageError):
    """A dependency (elasticsearch, clickhouse or redis) cannot be reached or timed out."""

    def __init__(self, dependency: str, detail: str = ""):
        self.dependency = dependency
        self.detail = detail
        super().__init__(f"{dependency} is unavailable" + (f": {detail}" if detail else ""))


class QueryRejected(StorageError):
    """ClickHouse rejected a query or the rows of an insert (bad data, not an outage)."""

    def __init__(self, code: int | None, message: str):
        self.code = code
        super().__init__(message)
