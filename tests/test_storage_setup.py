import pytest

from storage import clients, migrations, search_index
from storage.errors import StorageUnavailable
from storage.setup import init_storage, wait_for_clickhouse


def test_migrations_create_tables(storage_ready):
    rows = clients.clickhouse().execute(
        "SELECT name FROM system.tables WHERE database = %(db)s", {"db": storage_ready.clickhouse_db}, tag="test"
    )
    tables = {name for (name,) in rows}
    assert {"schema_migrations", "products", "categories", "events", "search_events"} <= tables


def test_second_init_applies_nothing(storage_ready):
    result = init_storage(storage_ready)
    assert result["migrations_applied"] == []
    versions = clients.clickhouse().execute("SELECT version FROM schema_migrations FINAL ORDER BY version", tag="test")
    assert [v for (v,) in versions] == [m.version for m in migrations.load_migrations()]


def test_alias_points_at_one_versioned_index(storage_ready):
    indices = search_index.current_indices(storage_ready.elastic_index)
    assert len(indices) == 1
    assert indices[0].startswith(f"{storage_ready.elastic_index}-v")


def test_split_statements_ignores_comments():
    sql = "-- a comment; with a semicolon\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\nSELECT 1;\n"
    assert migrations.split_statements(sql) == ["CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"]


def test_wait_for_clickhouse_gives_up_with_clear_error(storage_ready):
    closed = storage_ready.model_copy(update={"clickhouse_port": 1, "startup_retries": 3, "startup_retry_interval": 0.05})
    with pytest.raises(StorageUnavailable) as error:
        wait_for_clickhouse(closed)
    message = str(error.value)
    assert "after 3 attempts" in message
    assert "CLICKHOUSE_PORT" in message


def test_clients_are_new_after_fork(storage_ready):
    import os

    clients.configure(storage_ready)
    # Holding the parent's clients keeps their addresses from being reused in the child.
    parent_redis, parent_elastic = clients.redis_client(), clients.elastic()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            fresh = clients.redis_client() is not parent_redis and clients.elastic() is not parent_elastic
            os.write(write, b"1" if fresh else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert clients.redis_client() is parent_redis
