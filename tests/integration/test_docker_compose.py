"""``docker compose config`` accepts the production-like stack (no Docker engine needed for that)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import in_ci

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT / "docker" / "compose.yaml"
pytestmark = pytest.mark.integration


def compose(*args: str) -> subprocess.CompletedProcess:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    ):
        message = "docker compose is not installed (scripts/install-test-deps builds the CLI plugin)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return subprocess.run(
        ["docker", "compose", *args], capture_output=True, text=True, timeout=120, cwd=PROJECT
    )


def test_compose_file_is_valid_with_the_example_environment():
    result = compose("--env-file", "docker/.env.example", "-f", str(COMPOSE), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert set(config["services"]) == {
        "mongodb",
        "solr",
        "solr-init",
        "postgres",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "publisher",
    }
    publisher = config["services"]["publisher"]["environment"]
    assert publisher["CONTENTCLOUD_MDSTORE"].startswith(
        "mongodb://contentcloud:change-me-mongo@mongodb:27017/"
    )
    assert publisher["CONTENTCLOUD_INDEX"] == "http://solr:8983/solr/contentcloud"
    assert config["services"]["solr"]["command"] == ["solr-foreground", "-c"]
    assert publisher["CONTENTCLOUD_CURATOR_USERS"].startswith("curator:scrypt:32768:8:1:")
    # every published port listens on the host's loopback only (a TLS proxy goes in front)
    published = {
        name: [(port["host_ip"], port["published"], port["target"]) for port in service.get("ports", [])]
        for name, service in config["services"].items()
        if service.get("ports")
    }
    assert published == {
        "solr": [("127.0.0.1", "8983", 8983)],
        "airflow-apiserver": [("127.0.0.1", "8080", 8080)],
        "publisher": [("127.0.0.1", "8000", 8000)],
    }
    scheduler = config["services"]["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")


def test_secrets_must_come_from_the_environment():
    result = compose("-f", str(COMPOSE), "config")
    assert result.returncode != 0
    assert "required variable" in result.stderr and "is missing a value" in result.stderr
