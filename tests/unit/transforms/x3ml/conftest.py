"""Fixtures for the X3ML unit tests: files in a temporary folder, one-call runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from transforms.x3ml import TransformResult, X3MLMapping


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``tmp_path/name`` and return the path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def run(write: Callable[[str, str], Path]) -> Callable[..., TransformResult]:
    """Load a mapping (and policy) from text and transform one record with test UUIDs."""

    def _run(
        mapping: str, record: str, *, policy: str | None = None, uuid_size: int = 1, **load_options: object
    ) -> TransformResult:
        mapping_path = write("mapping.x3ml", mapping)
        policy_path = write("policy.xml", policy) if policy is not None else None
        loaded = X3MLMapping.load(mapping_path, policy=policy_path, **load_options)
        return loaded.transform(record.encode(), uuid_mode="test", uuid_test_size=uuid_size)

    return _run
