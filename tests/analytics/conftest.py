"""Fixtures of the analytics tests: a ClickHouse database of their own, emptied per test.

The analytics tests insert fixed event sets and compare exact figures, so
they use their own database instead of the session's, where other tests
insert events too.
"""

from __future__ import annotations

import pytest

from storage import clients, migrations
from storage.analytics.tables import REFRESH_RUNS_TABLE, SUMMARY_TABLES
from storage.clickhouse import ClickHouse

RAW_TABLES = ("search_events", "events", "products", "categories")


@pytest.fixture(scope="session")
def analytics_settings(storage_ready):
    settings = storage_ready.model_copy(update={"clickhouse_db": f"{storage_ready.clickhouse_db}_analytics"})
    migrations.ensure_database(settings, timeout=60)
    client = ClickHouse(settings, timeout=120)
    migrations.apply_migrations(client)
    client.disconnect()
    yield settings
    migrations.drop_database(settings)


@pytest.fixture()
def ch(analytics_settings):
    """A ClickHouse client on the analytics test database, with every table emptied first."""
    client = ClickHouse(analytics_settings, timeout=300)
    for table in RAW_TABLES + SUMMARY_TABLES + (REFRESH_RUNS_TABLE,):
        client.execute(f"TRUNCATE TABLE {table}", tag="tests.analytics")
    yield client
    client.disconnect()


@pytest.fixture()
def api(app, admin_token, analytics_settings, storage_ready, ch):
    """A test client of the app whose ClickHouse clients use the analytics test database."""
    clients.configure(analytics_settings)
    test_client = app.test_client()
    test_client.environ_base["HTTP_X_API_KEY"] = admin_token
    yield test_client
    clients.configure(storage_ready)


@pytest.fixture()
def configured_redis(storage_ready):
    """The session settings in this process, for code that uses storage.clients."""
    clients.configure(storage_ready)
    yield storage_ready
