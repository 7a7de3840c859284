"""Suite-wide rules: every test has a timeout, a unit test a short one.

The default (``timeout`` in pyproject.toml) bounds the integration tests, which start
clusters and whole runs; a test with none of the ``integration``, ``slow`` or ``kafka``
marks is a unit test and gets `UNIT_TIMEOUT_S`, so a hung fake or a deadlock fails in
seconds instead of holding CI for the default. A test's own ``@pytest.mark.timeout`` wins.
"""

from __future__ import annotations

import pytest

UNIT_TIMEOUT_S = 120
HEAVY_MARKS = ("integration", "slow", "kafka")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None and not any(
            item.get_closest_marker(m) for m in HEAVY_MARKS
        ):
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_S))
