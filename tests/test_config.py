import pytest

from config import ConfigError, load_settings


def test_defaults_point_at_local_services():
    settings = load_settings()
    assert settings.elastic_url == "http://127.0.0.1:9201"
    assert settings.clickhouse_port == 9002
    assert settings.redis_dsn == "redis://127.0.0.1:6380/0"


def test_environment_overrides_default(monkeypatch):
    monkeypatch.setenv("CLICKHOUSE_PORT", "9100")
    monkeypatch.setenv("DEBUG", "true")
    settings = load_settings()
    assert settings.clickhouse_port == 9100
    assert settings.debug is True


@pytest.mark.parametrize(
    ("variable", "value", "expected_form"),
    [
        ("CLICKHOUSE_PORT", "abc", "an integer from 1 to 65535"),
        ("CLICKHOUSE_PORT", "70000", "an integer from 1 to 65535"),
        ("ELASTIC_HOST", "ftp://somewhere", "http(s) URL"),
        ("ELASTIC_HOST", "", "http(s) URL"),
        ("ELASTIC_INDEX", "Products!", "lowercase index name"),
        ("CLICKHOUSE_DB", "shop-db", "letters, digits and underscores"),
        ("REDIS_URL", "http://127.0.0.1", "redis:// URL"),
        ("DEBUG", "flase", "true or false"),
        ("APP_NAME", "", "non-empty name"),
    ],
)
def test_invalid_value_names_variable(monkeypatch, variable, value, expected_form):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert f"{variable}={value!r}" in str(error.value)
    assert expected_form in str(error.value)


def test_dotenv_file_is_read(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("ELASTIC_INDEX=from_dotenv\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings().elastic_index == "from_dotenv"


def test_wsgi_start_fails_on_invalid_setting(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, CLICKHOUSE_PORT="not-a-port", PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "CLICKHOUSE_PORT='not-a-port' is invalid" in result.stderr
