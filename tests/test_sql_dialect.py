"""The local server is ClickHouse 18.16 and production runs a current one: every
DDL statement must run on both. chdb embeds a current engine in-process."""

import pytest

from storage import migrations

chdb = pytest.importorskip("chdb")


def test_every_ddl_statement_runs_on_current_engine(tmp_path):
    from chdb import session

    statements = migrations.all_statements()
    assert len(statements) >= 5
    with session.Session(str(tmp_path / "chdb")) as sess:
        sess.query("CREATE DATABASE IF NOT EXISTS dialect_check")
        for statement in statements:
            sess.query(f"USE dialect_check; {statement}")
        tables = sess.query("SELECT name FROM system.tables WHERE database = 'dialect_check' ORDER BY name", "CSV")
        names = str(tables)
    for table in ("products", "categories", "events", "search_events", "schema_migrations"):
        assert f'"{table}"' in names
