"""Files the code needs wherever it is installed: the shipped mappings, the schemas and the demo's
datasource profile.

In a source checkout ``mappings``, ``schemas`` and ``demo.yaml`` here are symbolic links to the
project's ``mappings/``, ``schemas/`` and ``registry/demo.yaml`` (one copy to edit); building a
wheel copies the files behind them into the package (``package-data`` in ``pyproject.toml``), so a
``pip install .`` outside the checkout finds the same files at the same place.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The shipped file or directory ``name`` (``mappings``, ``schemas``, ``demo.yaml``), resolved
    so that a checkout shows the project's own path rather than the link."""
    return (HERE / name).resolve()


MAPPINGS_DIR = shipped("mappings")
SCHEMAS_DIR = shipped("schemas")
DEMO_PROFILE = shipped("demo.yaml")
