"""floodmark's pytest plugin (entry point ``pytest11``): chaos scenarios as pytest tests.

A chaos test reads like an ordinary test::

    def test_replog_survives_partitions(floodmark_run):
        result = floodmark_run(nemesis="partition,kill", time_limit=30, seed=7,
                               settings={"min.insync.replicas": 2})
        assert result.verdict == "valid", result.summary()

Fixtures:

- ``floodmark_run``: a callable that runs one scenario (same keys as ``floodmark run``
  options and config files) and returns a `ChaosResult`. Every run's directory is
  attached to the test's report (a ``floodmark`` section, and a ``floodmark_run_dir``
  user property that lands in pytest's JUnit XML). Unless the test asked for a
  different verdict with ``expect=``, a run whose verdict is not ``valid`` fails the
  test at teardown even if the test forgot to assert.
- ``floodmark_cluster``: a started cluster (no workload, no faults) for tests that drive
  it themselves; it is removed afterwards, also when the test fails.
- ``floodmark_runner`` and ``floodmark_driver``: what the two above run with
  (`harness.run.run`, quiet; `harness.run.DockerDriver`). Override them in a conftest to
  run scenarios another way; the plugin's own unit tests pass Docker-less fakes.

Options: ``--floodmark-store DIR`` (default ``store``) and ``--floodmark-time-scale X``
(multiplies every ``time_limit``, e.g. 0.5 for a quick local pass).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.catalogue import CATALOGUE
from harness.contract.config import TestConfig, build_config
from harness.contract.layout import LATEST, REPORT, RESULTS
from harness.contract.plan import ClusterSpec
from harness.contract.results import Results
from harness.contract.verdict import Verdict
from harness.monitor import wait_healthy
from harness.progress import Ui
from harness.run import ClusterDriver, DockerDriver, run
from harness.store import new_run_id
from harness.systems import load_system


@dataclass(frozen=True, slots=True)
class ChaosResult:
    """A finished run: its verdict, exit code, run directory and results.json (if any)."""

    verdict: str
    exit_code: int
    run_dir: Path | None
    results: Results | None = None

    @property
    def anomalies(self) -> dict[str, int]:
        checkers = self.results.checkers if self.results is not None else {}
        return {name: c.count for name, c in checkers.items() if c.verdict is Verdict.INVALID}

    def summary(self) -> str:
        where = f" ({self.run_dir / REPORT})" if self.run_dir else ""
        return f"verdict {self.verdict}, anomalies {self.anomalies or 'none'}{where}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("floodmark", "floodmark chaos tests")
    group.addoption("--floodmark-store", default="store", help="store directory for runs")
    group.addoption(
        "--floodmark-time-scale", type=float, default=1.0, help="multiply every time_limit"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a floodmark chaos scenario (runs Docker)")


@dataclass
class _Runs:
    item: pytest.Item
    done: list[tuple[ChaosResult, str]] = field(default_factory=list)


_RUNS_KEY = pytest.StashKey[_Runs]()


Runner = Callable[[TestConfig], int]
"""Runs one validated config and returns its exit code (`harness.run.run`)."""


@pytest.fixture
def floodmark_runner() -> Runner:
    """How ``floodmark_run`` runs a scenario: `harness.run.run` with a quiet UI."""
    return lambda config: run(config, Ui(quiet=True))


@pytest.fixture
def floodmark_driver() -> ClusterDriver:
    """Where ``floodmark_cluster`` starts its cluster: Docker."""
    return DockerDriver()


@pytest.fixture
def floodmark_run(
    request: pytest.FixtureRequest, floodmark_runner: Runner
) -> Iterator[Callable[..., ChaosResult]]:
    """Run a chaos scenario: ``floodmark_run(expect="valid", **config) -> ChaosResult``."""

    store = str(request.config.getoption("--floodmark-store"))
    scale = float(request.config.getoption("--floodmark-time-scale"))
    runs = _Runs(request.node)
    request.node.stash[_RUNS_KEY] = runs

    def go(expect: str = "valid", **options: Any) -> ChaosResult:
        raw: dict[str, Any] = {"store": store, "name": _test_name(request.node), **options}
        if isinstance(raw.get("nemesis"), list | tuple):
            raw["nemesis"] = ",".join(raw["nemesis"])
        if "time_limit" in raw:
            raw["time_limit"] = float(raw["time_limit"]) * scale
        config = build_config(raw, CATALOGUE)
        code = floodmark_runner(config)
        link = Path(config.store) / config.name / LATEST
        run_dir = link.resolve() if link.exists() else None
        results = None
        if run_dir is not None and (run_dir / RESULTS).is_file():
            results = Results.read(run_dir)
        verdict = results.verdict if results is not None else Verdict.UNKNOWN
        result = ChaosResult(verdict.value, code, run_dir, results)
        runs.done.append((result, expect))
        if run_dir is not None:
            request.node.user_properties.append(("floodmark_run_dir", str(run_dir)))
        return result

    yield go
    unmet = [(r, e) for r, e in runs.done if e != "any" and r.verdict != e]
    if unmet:
        pytest.fail(
            "floodmark run verdicts not as expected: "
            + "; ".join(f"expected {e}, got {r.summary()}" for r, e in unmet),
            pytrace=False,
        )


def _test_name(item: pytest.Item) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in item.name)
    return f"pytest-{safe}"[:100]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    runs = item.stash.get(_RUNS_KEY, None)
    if runs is not None and runs.done and call.when in ("call", "teardown"):
        lines = [f"{r.run_dir} — {r.summary()}" for r, _e in runs.done]
        report.sections.append(("floodmark runs", "\n".join(lines)))
    return report


@pytest.fixture
def floodmark_cluster(
    request: pytest.FixtureRequest, floodmark_driver: ClusterDriver
) -> Iterator[Any]:
    """A started replog cluster (3 nodes, 3 keys, leaders and full ISR), removed afterwards.

    Yields a `compose.docker_cluster.DockerCluster` (the `harness.contract.roles.Cluster` the
    faults act on: ``.container(node)``, ``.toxiproxy``, ``.leader(key)``, ``.system``).
    Parametrise with ``@pytest.mark.parametrize("floodmark_cluster", [{"nodes": 5}],
    indirect=True)``.
    """
    import tempfile

    opts: dict[str, Any] = dict(getattr(request, "param", {}) or {})
    system = load_system(str(opts.get("system", "replog")))
    nodes = int(opts.get("nodes", 3))
    spec = ClusterSpec(
        new_run_id(), nodes, int(opts.get("keys", 3)), min(3, nodes),
        str(opts.get("profile", _default_profile(system.name))), dict(opts.get("settings", {})), {},
    )  # fmt: skip
    plan = system.render(spec)
    images = floodmark_driver.images(system.images(), Ui(quiet=True))
    workdir = Path(tempfile.mkdtemp(prefix="floodmark-cluster-"))
    cluster = floodmark_driver.cluster(plan, system, images, workdir)
    try:
        cluster.start(lambda _what: None)
        problems = wait_healthy(cluster, 90.0)
        if problems:
            pytest.fail(f"cluster not healthy after 90 s: {problems}", pytrace=False)
        yield cluster
    finally:
        floodmark_driver.remove(plan.run_id)


def _default_profile(system: str) -> str:
    """The system's own default profile (the catalogue lists it first)."""
    return CATALOGUE.profiles.get(system, (TestConfig().profile,))[0]
