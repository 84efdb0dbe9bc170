"""``pip install .`` then ``contentcloud demo`` in an empty folder: the package as users get it.

The project is built into a wheel (``pip wheel --no-build-isolation``: nothing is downloaded) from
a copy of its sources, so the build leaves nothing in the checkout; the wheel is installed with
``--no-deps`` into a new virtual environment that sees the test environment's packages through a
``.pth`` line (the dependencies, not contentcloud: the editable install's finder is a ``.pth`` of
its own, which a plain path line does not run). The demo then runs in an empty folder with no
``PYTHONPATH`` and no ``CONTENTCLOUD_*`` variables, so only what the wheel ships can make it work.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
SOURCES = (
    "contentcloud",
    "mdstore",
    "harvesters",
    "transforms",
    "provision",
    "mappings",
    "schemas",
    "registry",
)
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTENTCLOUD_") and k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the project installed from its wheel; returns its bin/."""
    root = tmp_path_factory.mktemp("installed")
    source = root / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        shutil.copytree(PROJECT / name, source / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, source / name)
    wheels = root / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(wheels),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert build.returncode == 0, (
        "building the wheel failed (it needs setuptools and wheel, from the 'test' extra):\n"
        + build.stderr[-3000:]
    )
    (wheel,) = wheels.glob("contentcloud-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout.strip()
    site_dirs = [p for p in sys.path if p.rstrip("/").endswith("site-packages")]
    Path(purelib, "test-environment.pth").write_text("".join(f"{p}\n" for p in site_dirs))
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return venv / "bin"


def test_the_installed_package_imports_from_the_venv_not_the_checkout(installed, tmp_path):
    where = subprocess.run(
        [str(installed / "python"), "-c", "import contentcloud; print(contentcloud.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    ).stdout.strip()
    assert where.startswith(str(installed.parent)) and "site-packages" in where


def test_demo_in_an_empty_folder_runs_every_step_with_state_in_var(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    result = subprocess.run(
        [str(installed / "contentcloud"), "demo", "--no-serve"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    steps = re.findall(
        r"^  (collect|transform|index|publish)\s+(\S+)\s+read\s+(\d+)\s+written\s+(\d+)\s+errors\s+(\d+)",
        result.stderr,
        re.M,
    )
    assert steps == [
        ("collect", "finished", "150", "150", "0"),
        ("transform", "finished", "150", "150", "0"),
        ("index", "finished", "148", "148", "0"),
        ("publish", "finished", "150", "300", "0"),
    ]
    assert (
        f"  note: created {work / 'registry' / 'demo.yaml'} (the demo profile shipped with contentcloud)"
        in (result.stderr.splitlines())
    )
    assert "148 documents indexed" in result.stdout
    # state under ./var, the profile under ./registry, nothing else
    assert sorted(p.name for p in work.iterdir()) == ["registry", "var"]
    assert {"mdstore.sqlite", "index.sqlite", "oai.sqlite", "demo-source"} <= {
        p.name for p in (work / "var").iterdir()
    }
    with sqlite3.connect(work / "var" / "index.sqlite") as con:
        tables = [row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables  # an index was written there
    # the commands the demo suggests work from the same folder with the shipped mappings
    listing = subprocess.run(
        [str(installed / "contentcloud"), "mdstore", "export", "demo", "--ids-only"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert listing.returncode == 0, listing.stderr[-3000:]
    assert len(listing.stdout.splitlines()) == 150
    check = subprocess.run(
        [str(installed / "contentcloud"), "index", "--check", "demo"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert check.returncode == 0, check.stderr[-3000:]
    settings = subprocess.run(
        [str(installed / "contentcloud"), "settings", "show"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    mappings = next(line for line in settings.stdout.splitlines() if line.startswith("mappings"))
    assert str(installed.parent) in mappings and mappings.split("\t")[1].endswith(
        "contentcloud/shipped/mappings"
    )
