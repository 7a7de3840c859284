"""The pytest plugin, run by pytest itself (``pytester``) with a fake runner and driver.

The rule under test: a run whose verdict is not the test's ``expect`` (default
``valid``; ``any`` accepts every verdict) fails the test at teardown, even when the test
asserted nothing; the report names each unmet run. Also: options reach the config
(store, time scale, a nemesis list), each run's directory is attached to the report,
and ``floodmark_cluster`` starts a cluster through the driver and removes it also when
the test fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import harness.pytest_plugin
import harness.run
from harness.contract.config import TestConfig
from harness.contract.verdict import Verdict
from harness.pytest_plugin import Runner, _test_name
from harness.run import ClusterDriver
from harness.systems import SYSTEMS
from tests.harness.fakes import Events, FakeDriver, FakeRunner, FakeSystem, healthy_states

pytest_plugins = ["pytester"]

V, INV, U = Verdict.VALID, Verdict.INVALID, Verdict.UNKNOWN


class Inject:
    """A plugin for the inner pytest run that holds the fakes; the inner conftest
    (`CONFTEST`) makes them the fixtures the floodmark plugin runs with (a conftest's
    fixtures override a plugin's, whatever order the plugins were loaded in)."""

    def __init__(self, runner: FakeRunner, driver: FakeDriver | None = None) -> None:
        self.runner = runner
        self.driver = driver

    @pytest.fixture
    def fake_runner(self) -> Runner:
        return self.runner

    @pytest.fixture
    def fake_driver(self) -> ClusterDriver:
        assert self.driver is not None, "this inner run has no fake driver"
        return self.driver


CONFTEST = """
import pytest

@pytest.fixture
def floodmark_runner(fake_runner):
    return fake_runner

@pytest.fixture
def floodmark_driver(fake_driver):
    return fake_driver
"""


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester) -> None:
    """Nothing here may reach Docker or the real `run`, whatever the fixtures resolve to."""

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the plugin's unit tests touched the real run or Docker")

    monkeypatch.setattr(harness.run, "docker_client", refuse)
    monkeypatch.setattr(harness.pytest_plugin, "run", refuse)
    pytester.makeconftest(CONFTEST)


def inner(
    pytester: pytest.Pytester, runner: FakeRunner, body: str, *args: str
) -> pytest.HookRecorder:
    pytester.makepyfile(test_chaos=body)
    store = pytester.path / "store"
    return pytester.inline_run("--floodmark-store", str(store), *args, plugins=[Inject(runner)])


def test_a_valid_run_passes_and_is_attached_to_the_report(pytester: pytest.Pytester) -> None:
    runner = FakeRunner(V)
    rec = inner(pytester, runner, """
        def test_it(floodmark_run):
            result = floodmark_run(seed=7)
            assert result.verdict == "valid" and result.exit_code == 0
            assert result.anomalies == {}
    """)  # fmt: skip
    rec.assertoutcome(passed=1)
    (call,) = [r for r in rec.getreports("pytest_runtest_logreport") if r.when == "call"]
    (prop,) = [str(v) for k, v in call.user_properties if k == "floodmark_run_dir"]
    assert Path(prop).parent.name == "pytest-test_it"
    assert (Path(prop) / "results.json").is_file()
    section = dict(call.sections)["floodmark runs"]
    assert section.endswith(f"verdict valid, anomalies none ({prop}/report.html)")
    (config,) = runner.configs
    assert (config.name, config.seed, config.store) == (
        "pytest-test_it",
        7,
        str(pytester.path / "store"),
    )


@pytest.mark.parametrize(
    ("verdict", "expect", "passes"),
    [
        (INV, "valid", False),
        (U, "valid", False),
        (None, "valid", False),  # no results.json at all: unknown
        (INV, "invalid", True),
        (V, "invalid", False),
        (U, "unknown", True),
        (INV, "any", True),
        (None, "any", True),
    ],
)
def test_a_verdict_other_than_expected_fails_the_test_even_without_an_assert(
    pytester: pytest.Pytester, verdict: Verdict | None, expect: str, passes: bool
) -> None:
    rec = inner(pytester, FakeRunner(verdict), f"""
        def test_it(floodmark_run):
            floodmark_run(expect={expect!r})
    """)  # fmt: skip
    reports = rec.getreports("pytest_runtest_logreport")
    teardown = next(r for r in reports if r.when == "teardown")
    call = next(r for r in reports if r.when == "call")
    assert call.passed  # the test body itself never fails
    assert teardown.passed is passes
    if not passes:
        got = verdict.value if verdict is not None else "unknown"
        assert f"floodmark run verdicts not as expected: expected {expect}, got verdict {got}" in (
            str(teardown.longrepr)
        )


def test_the_failure_names_the_anomalies_and_only_the_unmet_runs(pytester: pytest.Pytester) -> None:
    rec = inner(pytester, FakeRunner(V, INV, INV), """
        def test_it(floodmark_run):
            assert floodmark_run().verdict == "valid"
            assert floodmark_run(expect="invalid").anomalies == {"lost-write": 2}
            floodmark_run()
    """)  # fmt: skip
    teardown = next(r for r in rec.getreports("pytest_runtest_logreport") if r.when == "teardown")
    text = str(teardown.longrepr)
    assert text.count("expected ") == 1
    assert "expected valid, got verdict invalid, anomalies {'lost-write': 2}" in text
    assert len(dict(teardown.sections)["floodmark runs"].splitlines()) == 3


def test_options_reach_the_config(pytester: pytest.Pytester) -> None:
    runner = FakeRunner(V)
    rec = inner(pytester, runner, """
        import pytest

        @pytest.mark.parametrize("n", [1])
        def test_it(floodmark_run, n):
            floodmark_run(nemesis=["partition", "kill"], time_limit=30)
    """, "--floodmark-time-scale", "0.5")  # fmt: skip
    rec.assertoutcome(passed=1)
    (config,) = runner.configs
    assert isinstance(config, TestConfig)
    assert (config.nemesis, config.time_limit) == (("partition", "kill"), 15.0)
    assert config.name == "pytest-test_it-1-"


def test_a_bad_option_fails_the_test_with_the_config_error(pytester: pytest.Pytester) -> None:
    runner = FakeRunner(V)
    rec = inner(pytester, runner, """
        def test_it(floodmark_run):
            floodmark_run(nodes=12)
    """)  # fmt: skip
    rec.assertoutcome(failed=1)
    assert runner.configs == []


def test_the_test_name_is_a_safe_store_name() -> None:
    class Item:
        name = "test_x[a/b c]" + "y" * 200

    assert _test_name(Item()) == ("pytest-test_x-a-b-c-" + "y" * 200)[:100]  # type: ignore[arg-type]


def test_the_cluster_fixture_starts_through_the_driver_and_removes_after_a_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = FakeSystem(healthy_states(2, nodes=5))
    monkeypatch.setitem(SYSTEMS, "fake", lambda: system)
    events = Events()
    driver = FakeDriver(events)
    pytester.makepyfile(test_cluster="""
        import pytest

        @pytest.mark.parametrize("floodmark_cluster", [{"system": "fake", "nodes": 5,
                                                        "keys": 2}], indirect=True)
        def test_it(floodmark_cluster):
            assert floodmark_cluster.plan.brokers == ("n1", "n2", "n3", "n4", "n5")
            assert floodmark_cluster.leader(0) == "n1"
            raise AssertionError("the test failed")
    """)  # fmt: skip
    rec = pytester.inline_run(plugins=[Inject(FakeRunner(), driver)])
    rec.assertoutcome(failed=1)
    assert events.names == ["images", "start", "remove"]
    (cluster,) = driver.clusters
    assert cluster.plan.keys == 2 and cluster.plan.replication_factor == 3
