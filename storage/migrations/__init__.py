"""Versioned ClickHouse migrations.

Each `NNNN_name.sql` file in this folder is one migration: statements separated
by a `;` at the end of a line, each idempotent (`IF NOT EXISTS`), applied in
order of NNNN. `schema_migrations` records what was applied, so a second run
does nothing, and a rerun after a crash halfway through a file is harmless.
The same statements run on a current ClickHouse in tests (chdb), so they stay
within what both the 18.16 server and current servers accept.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from config import Settings
from storage.clickhouse import ClickHouse

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS_DDL = """CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime
)
ENGINE = ReplacingMergeTree
ORDER BY version"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def split_statements(sql: str) -> list[str]:
    """Split a file into statements at each `;` that ends a line, dropping comment lines."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    parts = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
    return [part.strip() for part in parts if part.strip()]


def load_migrations() -> list[Migration]:
    migrations = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} must look like 0001_name.sql")
        text = path.read_text(encoding="utf-8")
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                statements=tuple(split_statements(text)),
                checksum=hashlib.sha256(text.encode()).hexdigest()[:16],
            )
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migration files share a version number: {versions}")
    return migrations


def all_statements() -> list[str]:
    """Every DDL statement the project issues, in order (for the dialect check)."""
    return [SCHEMA_MIGRATIONS_DDL] + [s for m in load_migrations() for s in m.statements]


def ensure_database(settings: Settings, timeout: float) -> None:
    # The configured database may not exist yet, so connect to "default" to create it.
    admin = ClickHouse(settings, timeout=timeout, database="default")
    try:
        admin.execute(f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_db}", tag="migrate")
    finally:
        admin.disconnect()


def apply_migrations(client: ClickHouse) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    client.execute(SCHEMA_MIGRATIONS_DDL, tag="migrate")
    applied = {row[0] for row in client.execute("SELECT version FROM schema_migrations FINAL", tag="migrate")}

    done = []
    for migration in load_migrations():
        if migration.version in applied:
            continue
        for statement in migration.statements:
            client.execute(statement, tag="migrate")
        client.insert(
            "schema_migrations",
            ("version", "name", "checksum", "applied_at"),
            [(migration.version, migration.name, migration.checksum, datetime.now(timezone.utc).replace(tzinfo=None))],
            tag="migrate",
        )
        logger.info("migration_applied version=%04d name=%s", migration.version, migration.name)
        done.append(migration.version)
    return done


def drop_database(settings: Settings, timeout: float = 30.0) -> None:
    """Drop the configured database (used by tests to clean up after themselves)."""
    admin = ClickHouse(settings, timeout=timeout, database="default")
    try:
        admin.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse_db}", tag="migrate")
    finally:
        admin.disconnect()
