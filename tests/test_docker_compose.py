import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"


def _compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


def test_compose_file_declares_the_stack():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"elasticsearch", "clickhouse", "redis", "api", "worker", "beat"} <= set(services)
    for name in ("elasticsearch", "clickhouse", "redis", "api"):
        assert "healthcheck" in services[name], name
    for name in ("elasticsearch", "clickhouse", "redis"):
        assert services[name].get("volumes"), name


def test_compose_elasticsearch_major_matches_client():
    spec = yaml.safe_load(COMPOSE.read_text())
    image_version = spec["services"]["elasticsearch"]["image"].rsplit(":", 1)[1]
    client_version = re.search(r"^elasticsearch==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert image_version.split(".")[0] == client_version.split(".")[0]


@pytest.mark.skipif(not _compose_available(), reason="docker compose is not installed here")
def test_docker_compose_config_parses():
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
