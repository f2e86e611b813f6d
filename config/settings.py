"""Typed settings, read once from the environment and an optional `.env` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import ConfigError

# The expected form of each variable, named in the error when a value is invalid.
EXPECTED_FORMS = {
    "APP_NAME": "a non-empty name",
    "DEBUG": "true or false",
    "LOG_FORMAT": "json or text",
    "ELASTIC_HOST": "an http(s) URL such as http://127.0.0.1:9201",
    "ELASTIC_INDEX": "a lowercase index name such as products (the alias searched)",
    "CLICKHOUSE_HOST": "a host name or IP address such as 127.0.0.1",
    "CLICKHOUSE_PORT": "the native protocol port, an integer from 1 to 65535",
    "CLICKHOUSE_DB": "a database name of letters, digits and underscores",
    "REDIS_URL": "a redis:// URL such as redis://127.0.0.1:6380/0",
}
for _group in ("SEARCH", "INGEST", "CATALOG", "ANALYTICS", "ADMIN"):
    EXPECTED_FORMS[f"RATE_LIMIT_{_group}"] = "a rate such as 600/minute or 10/second"

Seconds = Annotated[float, Field(gt=0, le=3600)]


class Settings(BaseSettings):
    """All settings of the service. Field names map to upper-case variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
    )

    app_name: str = Field("shopsearch", min_length=1)
    debug: bool = False
    # JSON lines for log collectors, or plain text lines for a terminal.
    log_format: Literal["json", "text"] = "json"

    elastic_host: AnyUrl = AnyUrl("http://127.0.0.1:9201")
    # The alias that searches read; each full reindex builds "<alias>-v<timestamp>".
    elastic_index: str = Field("products", pattern=r"^[a-z0-9][a-z0-9_.-]{0,100}$")
    elastic_shards: int = Field(1, ge=1, le=64)
    elastic_replicas: int = Field(0, ge=0, le=8)

    clickhouse_host: str = Field("127.0.0.1", min_length=1)
    clickhouse_port: int = Field(9002, ge=1, le=65535)
    clickhouse_db: str = Field("shopsearch", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,100}$")
    clickhouse_user: str = "default"
    clickhouse_password: str = ""

    redis_url: AnyUrl = AnyUrl("redis://127.0.0.1:6380/0")

    # Timeout profiles: web requests fail fast so a slow dependency becomes a
    # 503 instead of a pile of stuck gunicorn workers; tasks may wait longer.
    web_es_timeout: Seconds = 5.0
    web_clickhouse_timeout: Seconds = 10.0
    task_es_timeout: Seconds = 120.0
    task_clickhouse_timeout: Seconds = 300.0
    redis_timeout: Seconds = 2.0

    # Start-up waits for ClickHouse this many times, this many seconds apart.
    startup_retries: int = Field(30, ge=1, le=1000)
    startup_retry_interval: Seconds = 1.0

    # Largest request body accepted, in bytes; larger bodies get 413.
    max_request_bytes: int = Field(10 * 1024 * 1024, ge=1024)

    # Event batching: a batch is closed at this many events or this age.
    event_batch_size: int = Field(5000, ge=1, le=100_000)
    event_batch_max_age: Seconds = 1.0
    # Events waiting in Redis above this count make POST /events return 503.
    event_backlog_limit: int = Field(2_000_000, ge=1000)

    # API keys: off only for local experiments; see the README's Security section.
    auth_enabled: bool = True
    # Search, suggest and catalog reads are public unless this is true.
    search_requires_key: bool = False
    # Rate limits per API key (or per client address without a key), per
    # group of endpoints, in the notation of the `limits` package.
    rate_limits_enabled: bool = True
    rate_limit_search: str = Field("1200/minute", pattern=r"^\d+ ?(/|per) ?\d* ?[a-z]+$")
    rate_limit_ingest: str = Field("6000/minute", pattern=r"^\d+ ?(/|per) ?\d* ?[a-z]+$")
    rate_limit_catalog: str = Field("1200/minute", pattern=r"^\d+ ?(/|per) ?\d* ?[a-z]+$")
    rate_limit_analytics: str = Field("600/minute", pattern=r"^\d+ ?(/|per) ?\d* ?[a-z]+$")
    rate_limit_admin: str = Field("120/minute", pattern=r"^\d+ ?(/|per) ?\d* ?[a-z]+$")

    @field_validator("elastic_host")
    @classmethod
    def _http_only(cls, value: AnyUrl) -> AnyUrl:
        if value.scheme not in ("http", "https"):
            raise ValueError("scheme must be http or https")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: AnyUrl) -> AnyUrl:
        if value.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("scheme must be redis, rediss or unix")
        return value

    @property
    def elastic_url(self) -> str:
        return str(self.elastic_host).rstrip("/")

    @property
    def redis_dsn(self) -> str:
        return str(self.redis_url)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, raising ConfigError that names each invalid variable.

    Tests pass overrides instead of editing the environment.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "?"
            expected = EXPECTED_FORMS.get(name, error["msg"])
            value = error.get("input")
            problems.append(f"{name}={value!r} is invalid: expected {expected} ({error['msg']})")
        raise ConfigError("; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process's settings, loaded on first use."""
    return load_settings()
