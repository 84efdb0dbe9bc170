"""Fixtures shared by the curator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.curator_support import start_browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Chromium driven by Selenium, one per test module (see :func:`start_browser`)."""
    driver = start_browser()
    yield driver
    driver.quit()
