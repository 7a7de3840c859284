"""Fixtures for replog tests: an in-process cluster factory that always tears down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.replog.cluster import Cluster

ClusterFactory = Callable[..., Cluster]


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    made: list[Cluster] = []

    def factory(nodes: list[str], **kwargs: Any) -> Cluster:
        c = Cluster(tmp_path / f"cluster{len(made)}", nodes, **kwargs)
        made.append(c)
        return c.start()

    yield factory
    for c in made:
        c.close()
