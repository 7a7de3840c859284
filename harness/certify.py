"""Certification: run a suite of chaos scenarios and give the suite one verdict.

A suite is plain data: a matrix of (system and profile) x (fault packages) x (workload
options) x (seeds or repeats), given as a YAML/TOML file or by the name of a built-in
suite in ``harness/suites/`` (``smoke``, ``nightly``, ``release``, ``self-test``)::

    name: smoke
    defaults: {time_limit: 30, nodes: 3, keys: 3}
    systems:
      - label: replog-safe
        config: {system: replog, profile: kafka-0.11,
                 settings: {min.insync.replicas: 2}}
      - label: replog-kafka-0.10          # a known-bug configuration
        expect: invalid
        bug: kafka-0.10 truncation
        config: {profile: kafka-0.10}
    faults: [[partition], [kill, pause]]
    workloads: [{}]
    seeds: [1, 2]                          # or: repeats: 3

Every scenario is one ordinary `harness.run.run` kept in the store. The suite writes
``summary.json``, ``junit.xml`` and ``certificate.html`` into its own directory
``store/certify/<suite>/<timestamp>/`` (names in `harness.contract.layout`). What a
scenario showed is read back from its ``results.json`` (through
`harness.contract.results`, its liveness section included) and ``test.json``; the
history is never walked again here.

Semantics a release manager relies on:

- The suite is **invalid** (exit 1) as soon as one scenario's history is invalid,
  whatever any other scenario says; a safety violation is never retried away or called
  flaky. Scenarios marked ``expect: invalid`` (the self-test's known bugs) are the one
  exception: for them, *not* being caught is the failure.
- Liveness problems (a stretch of the load longer than 20 s or two nemesis intervals
  without any ``ok`` operation, a cluster that did not recover after the final heal,
  a final read that could not complete, a run that could not finish) are reported in
  their own column and make the suite **unknown** (exit 2), never valid nor invalid.
  The anomalies counted are the glossary's safety anomalies found invalid.
- Every scenario's config is validated before the first container starts.

Scaling out: ``--jobs N`` runs up to N scenarios at once (`harness.jobs`, each in its own
worker process); ``--shard I/N`` runs a deterministic part of the list (`harness.shard`)
and records the whole suite's `Plan` in ``summary.json``; ``floodmark certify merge``
(`harness.merge`) joins the shards' outputs into one certificate. A suite's output
directory is ``<timestamp>`` (``<timestamp>-shard-IofN`` for a shard), never shared: a
second suite started in the same second gets ``-2``.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from rich.console import Console

from harness.contract.config import TestConfig
from harness.contract.glossary import SAFETY
from harness.contract.layout import CERTIFY, JUNIT, LATEST, RESULTS, SUMMARY, TEST
from harness.contract.results import CheckResult, Results, ResultsError
from harness.contract.verdict import Verdict, merge_verdicts
from harness.jobs import JOBS, Board, JobResult, Launcher, StopSignals, process_launcher, run_jobs
from harness.shard import Plan, plan_of
from harness.store import versions
from harness.suite import BUILTIN_SUITES, Scenario, Suite, SuiteError, expand, load_suite
from reports.certificate import render_certificate
from reports.junit import write_suite_junit

__all__ = [
    "BUILTIN_SUITES",
    "DetectionRow",
    "Scenario",
    "ScenarioResult",
    "Suite",
    "SuiteError",
    "SuiteInterrupted",
    "detection_rows",
    "detection_table",
    "expand",
    "load_suite",
    "output_dir",
    "run_suite",
    "suite_verdict",
    "summary_of",
    "write_outputs",
    "write_summary",
]

LIVENESS_GAP_S: Final = 20.0
"""A load stretch longer than this (or 2 nemesis intervals) without any ok op is a
liveness problem."""


@dataclass(slots=True)
class ScenarioResult:
    """What one scenario's run showed."""

    scenario: Scenario
    run_dir: str | None
    verdict: Verdict
    exit_code: int
    anomalies: dict[str, int] = field(default_factory=dict)
    faults_exercised: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    liveness: list[str] = field(default_factory=list)
    first_anomaly_s: float | None = None
    error: str | None = None

    @property
    def caught(self) -> bool:
        return self.verdict == Verdict.INVALID

    @property
    def outcome(self) -> Verdict:
        """This scenario's contribution to the suite's verdict."""
        if self.scenario.expect == Verdict.INVALID:
            # A known bug: being caught is the pass; escaping is a failure of floodmark.
            return Verdict.VALID if self.caught else Verdict.INVALID
        if self.verdict == Verdict.INVALID:
            return Verdict.INVALID
        if self.verdict == Verdict.UNKNOWN or self.liveness:
            return Verdict.UNKNOWN
        return Verdict.VALID

    def to_json(self) -> dict[str, Any]:
        s = self.scenario
        return {
            "scenario": s.name,
            "system": s.system_label,
            "faults": list(s.faults),
            "seed": s.seed,
            "expect": s.expect.value,
            "bug": s.bug,
            "verdict": self.verdict.value,
            "outcome": self.outcome.value,
            "exit_code": self.exit_code,
            "anomalies": self.anomalies,
            "faults_exercised": self.faults_exercised,
            "duration_s": round(self.duration_s, 1),
            "liveness": self.liveness,
            "first_anomaly_s": self.first_anomaly_s,
            "run_dir": self.run_dir,
            "command": s.config.command(),
            "error": self.error,
        }


# ---------------------------------------------------------------------------- running

Runner = Callable[[TestConfig], int]
"""Runs one scenario (normally `harness.run.run`) and returns its exit code."""


class SuiteInterrupted(Exception):
    """SIGINT/SIGTERM stopped a scenario's run (it tore itself down): the suite stops too,
    with what ran so far written out."""

    def __init__(self, exit_code: int, out: Path) -> None:
        super().__init__(f"suite interrupted (exit {exit_code}); partial results in {out}")
        self.exit_code = exit_code
        self.out = out


def run_suite(
    suite: Suite,
    store: Path,
    runner: Runner,
    progress: Callable[[str], None] = lambda _m: None,
    *,
    plan: Plan | None = None,
    jobs: int = 1,
    launcher: Launcher | None = None,
    console: Console | None = None,
) -> tuple[Path, list[ScenarioResult]]:
    """Every scenario of ``suite`` (a shard's part when ``plan.shard``), the suite's files
    written after each one (a crash mid-suite still leaves a readable summary of what
    ran). A run ended by a signal (exit code 128+N) stops the suite: `SuiteInterrupted`.

    ``jobs`` > 1 (or a ``launcher``) runs up to ``jobs`` scenarios at once, each in a
    worker (`harness.jobs`) shown on ``console``; otherwise ``runner`` runs them in turn
    in this process."""
    plan = plan or plan_of(suite, {}, versions()["floodmark"])
    shard = plan.shard
    out = output_dir(
        store / CERTIFY / suite.name, f"-shard-{shard.index}of{shard.count}" if shard else ""
    )
    if jobs > 1 or launcher is not None:
        return out, _run_parallel(suite, out, plan, max(1, jobs), launcher, console)
    results: list[ScenarioResult] = []
    for i, sc in enumerate(suite.scenarios, start=1):
        progress(f"[{i}/{len(suite.scenarios)}] {sc.name}")
        config = sc.config
        before = _latest_run(Path(config.store), config.name)
        t0 = time.monotonic()
        code = runner(config)
        duration = time.monotonic() - t0
        after = _latest_run(Path(config.store), config.name)
        run_dir = after if after != before else None  # None: the run never opened its dir
        results.append(scenario_result(sc, run_dir, code, duration))
        write_outputs(out, suite, results, plan)
        progress(f"    → {results[-1].verdict.value} ({results[-1].outcome.value})")
        if code >= 128:
            raise SuiteInterrupted(code, out)
    return out, results


def _run_parallel(
    suite: Suite,
    out: Path,
    plan: Plan,
    jobs: int,
    launcher: Launcher | None,
    console: Console | None,
) -> list[ScenarioResult]:
    """`run_suite` with up to ``jobs`` workers; results kept in the suite's order."""
    launch = launcher or process_launcher(out / JOBS)
    done: dict[int, ScenarioResult] = {}

    def finished(i: int, r: JobResult) -> str:
        sc = suite.scenarios[i]
        done[i] = scenario_result(sc, r.run_dir, r.code, r.duration_s)
        write_outputs(out, suite, [done[k] for k in sorted(done)], plan)
        return f"{sc.name} → {done[i].verdict.value} ({done[i].outcome.value})"

    board = Board(
        console or Console(stderr=True, highlight=False, markup=False), len(suite.scenarios)
    )
    with StopSignals() as stop, board.shown():
        signum = run_jobs(suite.scenarios, jobs, launch, finished, board, stop)
    results = [done[k] for k in sorted(done)]
    write_outputs(out, suite, results, plan)
    if signum is not None:
        raise SuiteInterrupted(128 + signum, out)
    return results


def output_dir(suite_dir: Path, suffix: str = "") -> Path:
    """``<timestamp><suffix>``, created here and never shared with another suite."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    base = stamp + suffix
    suite_dir.mkdir(parents=True, exist_ok=True)
    path, n = suite_dir / base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = suite_dir / f"{base}-{n}"


def _latest_run(store: Path, name: str) -> Path | None:
    link = store / name / LATEST
    return link.resolve() if link.exists() else None


def scenario_result(
    sc: Scenario, run_dir: Path | None, code: int, duration: float
) -> ScenarioResult:
    """Read back what a finished run stored: results.json and test.json."""
    verdict = {0: Verdict.VALID, 1: Verdict.INVALID}.get(code, Verdict.UNKNOWN)
    res = ScenarioResult(sc, str(run_dir) if run_dir else None, verdict, code, duration_s=duration)
    if run_dir is None:
        res.error = "the run left no run directory"
        res.liveness.append("run did not start")
        return res
    results: Results | None = None
    if not (run_dir / RESULTS).is_file():
        res.error = "no results.json: the run did not reach its check"
    else:
        try:
            results = Results.read(run_dir)
        except ResultsError as e:
            res.error = str(e)
    if results is not None:
        res.verdict = results.verdict
        res.anomalies = {
            name: r.count for name, r in results.checkers.items() if _proves_violation(name, r)
        }
        res.first_anomaly_s = _first_anomaly_s(results)
    outcome = _test_outcome(run_dir)
    if outcome.get("status") not in (None, "completed"):
        res.liveness.append(f"run {outcome.get('status')}: {outcome.get('error', '')}".strip())
    if outcome.get("recovered") is False:
        res.liveness.append("cluster did not recover (leader and full ISR) after the faults")
    if results is not None:
        _liveness(res, results, gap_limit=max(LIVENESS_GAP_S, 2 * sc.config.nemesis_interval))
    return res


def _proves_violation(name: str, r: CheckResult) -> bool:
    """A safety anomaly of the glossary that this run showed (invalid)."""
    return r.verdict is Verdict.INVALID and name in SAFETY


def _liveness(res: ScenarioResult, results: Results, gap_limit: float) -> None:
    """The liveness problems results.json shows (its liveness section)."""
    live = results.liveness
    if live is None:
        res.liveness.append(
            "results.json has no liveness section (checked by an older floodmark): "
            "re-check the run with floodmark check"
        )
        return
    if live.error is not None:
        res.liveness.append(f"liveness could not be checked: {live.error}")
        return
    res.faults_exercised = list(live.faults_exercised)
    gap = live.longest_gap_s if live.longest_gap_s is not None else NO_OK_OP_S
    if gap > gap_limit:
        res.liveness.append(
            f"no ok client operation for {gap:.1f} s during the load (limit {gap_limit:g} s)"
        )
    if live.unfinished_final_reads:
        res.liveness.append(f"final read did not complete for keys {live.unfinished_final_reads}")


NO_OK_OP_S: Final = 1e9
"""The gap reported when not a single send or poll was ok (as if it never ended)."""


def _first_anomaly_s(results: Results) -> float | None:
    """Seconds from the run's start to the earliest op of any safety witness."""
    times = [
        op["time"]
        for name, r in results.checkers.items()
        if _proves_violation(name, r)
        for w in r.witnesses
        for op in w.ops
        if type(op.get("time")) is int
    ]
    return round(min(times) / 1e9, 1) if times else None


def _test_outcome(run_dir: Path) -> dict[str, Any]:
    p = run_dir / TEST
    if not p.is_file():
        return {}
    data = orjson.loads(p.read_bytes())
    outcome = data.get("outcome", {}) if isinstance(data, dict) else {}
    return outcome if isinstance(outcome, dict) else {}


# ---------------------------------------------------------------------------- verdicts


def suite_verdict(results: Sequence[ScenarioResult]) -> Verdict:
    return merge_verdicts([r.outcome for r in results]) if results else Verdict.UNKNOWN


@dataclass(frozen=True, slots=True)
class DetectionRow:
    """One line of the self-test table."""

    configuration: str
    runs: int
    caught: int
    median_first_anomaly_s: float | None
    false_alarms: int | None
    """Only for safe configurations: runs reported invalid."""

    @property
    def rate(self) -> float:
        return self.caught / self.runs if self.runs else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "configuration": self.configuration,
            "runs": self.runs,
            "caught": self.caught,
            "detection_rate": round(self.rate, 3),
            "median_first_anomaly_s": self.median_first_anomaly_s,
            "false_alarms": self.false_alarms,
        }


def detection_table(results: Sequence[ScenarioResult]) -> list[DetectionRow]:
    """Per known bug: how often it was caught and how soon; per safe config: false alarms."""
    return detection_rows([r.to_json() for r in results])


def detection_rows(rows: Sequence[Mapping[str, Any]]) -> list[DetectionRow]:
    """`detection_table` from summary.json rows (`ScenarioResult.to_json`), so a merge of
    shards computes it exactly as one run of the whole suite does."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        key = r.get("bug") or f"{r.get('system')} (safe)"
        groups.setdefault(str(key), []).append(r)
    table = []
    for key, rs in groups.items():
        is_bug = rs[0].get("expect") == Verdict.INVALID.value
        caught = [r for r in rs if r.get("verdict") == Verdict.INVALID.value]
        firsts = [
            float(r["first_anomaly_s"]) for r in caught if r.get("first_anomaly_s") is not None
        ]
        table.append(
            DetectionRow(
                key,
                len(rs),
                len(caught) if is_bug else 0,
                statistics.median(firsts) if firsts and is_bug else None,
                None if is_bug else len(caught),
            )
        )
    return table


def write_outputs(
    out: Path, suite: Suite, results: Sequence[ScenarioResult], plan: Plan | None = None
) -> None:
    """summary.json, junit.xml and certificate.html for what has run so far."""
    summary = summary_of(
        suite.name,
        suite.description,
        len(suite.scenarios),
        [r.to_json() for r in results],
        suite_verdict(results),
    )
    if plan is not None:
        summary["plan"] = plan.to_json()
    write_summary(out, summary)


def summary_of(
    suite: str,
    description: str,
    planned: int,
    rows: Sequence[Mapping[str, Any]],
    verdict: Verdict,
) -> dict[str, Any]:
    """The body of summary.json, from its rows."""
    return {
        "suite": suite,
        "description": description,
        "verdict": verdict.value,
        "scenarios_planned": planned,
        "scenarios_run": len(rows),
        "invalid": [r["scenario"] for r in rows if r.get("outcome") == Verdict.INVALID.value],
        "liveness": {r["scenario"]: r["liveness"] for r in rows if r.get("liveness")},
        "detection": [d.to_json() for d in detection_rows(rows)],
        "rows": [dict(r) for r in rows],
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def write_summary(out: Path, summary: Mapping[str, Any]) -> None:
    """Write summary.json, junit.xml (one case per row) and certificate.html."""
    tmp = out / f".{SUMMARY}.tmp"
    tmp.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    tmp.replace(out / SUMMARY)
    name = summary["suite"]
    write_suite_junit(
        out / JUNIT,
        [
            {
                "name": r["scenario"],
                "classname": f"floodmark.certify.{name}",
                "verdict": r["outcome"],
                "time": r.get("duration_s", 0.0),
                "message": _row_message(r),
                "details": orjson.dumps(r, option=orjson.OPT_INDENT_2).decode(),
            }
            for r in summary["rows"]
        ],
        name=f"floodmark certify {name}",
    )
    render_certificate(out, summary)


def _row_message(r: Mapping[str, Any]) -> str:
    anomalies = r.get("anomalies") or {}
    if r.get("expect") == Verdict.INVALID.value:
        state = "caught" if r.get("verdict") == Verdict.INVALID.value else "NOT caught"
        return f"known bug {r.get('bug')!r} {state}; anomalies {anomalies}"
    if anomalies:
        return "anomalies: " + ", ".join(f"{k}: {v}" for k, v in anomalies.items())
    if r.get("liveness"):
        return "liveness: " + "; ".join(r["liveness"])
    return f"verdict {r.get('verdict')}"
