"""Airflow 3 for the DAG tests: a temporary AIRFLOW_HOME with a migrated SQLite metadata DB.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it, and the database is migrated once per session (``airflow db migrate``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import in_ci

PROJECT = Path(__file__).resolve().parents[2]
DAGS = PROJECT / "dags"


def _airflow_available() -> bool:
    """Checked without importing: Airflow reads its configuration on first import."""
    import importlib.util

    return importlib.util.find_spec("airflow") is not None


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """AIRFLOW_HOME with a migrated metadata DB; skipped (failed in CI) without Airflow."""
    if not _airflow_available():
        if in_ci():
            pytest.fail("apache-airflow is not installed (pip install -e '.[airflow]')")
        pytest.skip("apache-airflow is not installed (pip install -e '.[airflow]')")
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_env(home)
    os.environ.update(env)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return home


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
